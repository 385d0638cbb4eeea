/*
 * The record layer of an established TLS 1.3 (RFC 8446 §5.2) or TLS 1.2 AEAD (RFC 5288, RFC 7905)
 * connection, for the HTTP/1.1 fast
 * path's https connections (driver/transport/tls-record.ts): node:tls makes the handshake and
 * verifies the target; after it, the connection's application records are sealed and opened here,
 * with the traffic keys that handshake derived, and the socket is a plain TCP socket again. Node's
 * TLS socket costs about 3 µs of CPU per keep-alive request on this machine even in a loop that does
 * nothing else (docs/benchmarks.md); this costs one AEAD call per record.
 *
 * Node-API only (node_api.h), and OpenSSL's EVP AEAD interface from the OpenSSL that node itself
 * exports (its headers ship in node's include directory): no library of its own to link.
 *
 *   create(version, cipher, sealKey, sealIv, sealSeq, openKey, openIv, openSeq) -> layer
 *     version: 13 or 12; cipher: 0 AES-128-GCM, 1 AES-256-GCM, 2 ChaCha20-Poly1305; IVs of 12
 *     bytes (TLS 1.2 GCM: the 4-byte salt); sequence numbers as doubles.
 *   seal(layer, plaintext, out) -> bytes written to out: application_data records carrying
 *     plaintext (≤ 16 KiB each); out must hold the plaintext and 29 bytes per record.
 *   open(layer, bytes, out) -> n, the bytes of application data written to out, from every whole
 *     record in bytes (a partial record is kept for the next call; out must hold bytes and the
 *     partial record). Negative when the layer ended in this call: its first -1 - n bytes of out
 *     are the data before the end, and the next call returns -1 (the peer sent close_notify) or
 *     throws the error. Throws at once when nothing came before the error: an Error with code
 *     ERR_TLS_RECORD (a record that does not decrypt, or is malformed, or a TLS 1.2
 *     renegotiation), ERR_TLS_ALERT (another alert) or ERR_TLS_KEY_UPDATE (a KeyUpdate, which this
 *     does not follow). TLS 1.3 new session tickets, the only other handshake message a client gets
 *     after the handshake, are skipped.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <openssl/aes.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/modes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * AES-GCM goes through OpenSSL's GCM mode over its AES-NI functions when node's OpenSSL has them
 * (x86-64 builds export them) and the CPU does: the same code EVP reaches, without EVP's per-record
 * parameter lookups (about 0.1 µs of a request's 7). Otherwise, and for ChaCha20-Poly1305, EVP.
 * Weak: a build without them still loads. KANNON_TLS_EVP=1 in the environment keeps EVP (to compare).
 */
#if defined(__x86_64__)
int aesni_set_encrypt_key(const unsigned char *user_key, int bits, AES_KEY *key) __attribute__((weak));
void aesni_encrypt(const unsigned char *in, unsigned char *out, const AES_KEY *key) __attribute__((weak));
void aesni_ctr32_encrypt_blocks(const unsigned char *in, unsigned char *out, size_t blocks, const void *key, const unsigned char *ivec) __attribute__((weak));
#define AESNI_GCM 1
#else
#define AESNI_GCM 0
#endif

#define HEAD 5
#define TAG 16
#define MAX_PLAIN 16384
/* The longest record body a peer may send: 2^14 + 256 in TLS 1.3, 2^14 + 2048 in TLS 1.2. */
#define MAX_CIPHER_13 (MAX_PLAIN + 256)
#define MAX_CIPHER_12 (MAX_PLAIN + 2048)
#define MAX_CIPHER(l) ((l)->tls12 ? MAX_CIPHER_12 : MAX_CIPHER_13)
/* TLS 1.2 GCM's explicit nonce, sent in each record (RFC 5288 §3). */
#define EXPLICIT 8

typedef struct {
  int tls12;
  /* TLS 1.2 GCM: a 4-byte salt and an explicit nonce per record; otherwise IV XOR sequence. */
  int explicit_nonce;
  EVP_CIPHER_CTX *seal;
  EVP_CIPHER_CTX *open;
  /* The AES-NI GCM path (NULL: EVP's). */
  GCM128_CONTEXT *gcm_seal;
  GCM128_CONTEXT *gcm_open;
  AES_KEY aes_seal;
  AES_KEY aes_open;
  unsigned char seal_iv[12];
  unsigned char open_iv[12];
  uint64_t seal_seq;
  uint64_t open_seq;
  /* Bytes of a record not yet whole. */
  unsigned char *pending;
  size_t pending_len;
  size_t pending_cap;
  int closed;
  /* TLS 1.3 handshake messages after the handshake: the header being gathered, the body bytes still to skip. */
  unsigned char hs_head[4];
  size_t hs_have;
  size_t hs_owed;
  /* The error that ended the layer after it had opened data in the same call: thrown by the next. */
  const char *error_code;
  char error[160];
} Layer;

static napi_value fail(napi_env env, const char *code, const char *message) {
  napi_throw_error(env, code, message);
  return NULL;
}

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) return fail(env, NULL, "node-api: " #call); \
  } while (0)

static void be64(unsigned char out[8], uint64_t v) {
  for (int i = 0; i < 8; i++) out[7 - i] = (unsigned char)(v >> (8 * i));
}

/* A record's nonce: the salt and the explicit part (TLS 1.2 GCM), else the IV XOR the sequence number. */
static void nonce(const Layer *l, unsigned char out[12], const unsigned char iv[12], uint64_t seq, const unsigned char *explicit) {
  if (l->explicit_nonce) {
    memcpy(out, iv, 4);
    memcpy(out + 4, explicit, 8);
    return;
  }
  memcpy(out, iv, 12);
  for (int i = 0; i < 8; i++) out[11 - i] ^= (unsigned char)(seq >> (8 * i));
}

/* TLS 1.2's additional data: sequence number, type, version, plaintext length (RFC 5246 §6.2.3.3). */
static void aad12(unsigned char out[13], uint64_t seq, unsigned char type, size_t n) {
  be64(out, seq);
  out[8] = type;
  out[9] = 3;
  out[10] = 3;
  out[11] = (unsigned char)(n >> 8);
  out[12] = (unsigned char)n;
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Layer *l = data;
  EVP_CIPHER_CTX_free(l->seal);
  EVP_CIPHER_CTX_free(l->open);
  if (l->gcm_seal) CRYPTO_gcm128_release(l->gcm_seal);
  if (l->gcm_open) CRYPTO_gcm128_release(l->gcm_open);
  free(l->pending);
  /* The traffic keys, also as AES key schedules. */
  OPENSSL_cleanse(l, sizeof *l);
  free(l);
}

static int bytes_of(napi_env env, napi_value v, unsigned char **data, size_t *len) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  size_t offset;
  napi_value ab;
  void *p;
  if (napi_get_typedarray_info(env, v, &type, len, &p, &ab, &offset) != napi_ok || type != napi_uint8_array) return 0;
  *data = p;
  return 1;
}

static Layer *layer_of(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

/* The (layer, input, output) arguments of seal() and open(): 1 when all three are there. */
static int layer_args(napi_env env, napi_callback_info info, Layer **l, unsigned char **in, size_t *in_len, unsigned char **out, size_t *out_len) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3) return 0;
  *l = layer_of(env, argv[0]);
  return *l != NULL && bytes_of(env, argv[1], in, in_len) && bytes_of(env, argv[2], out, out_len);
}

static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 8) return fail(env, NULL, "create: 8 arguments");
  int32_t version, cipher;
  double seal_seq, open_seq;
  unsigned char *seal_key, *seal_iv, *open_key, *open_iv;
  size_t seal_key_len, seal_iv_len, open_key_len, open_iv_len;
  CHECK(napi_get_value_int32(env, argv[0], &version));
  CHECK(napi_get_value_int32(env, argv[1], &cipher));
  CHECK(napi_get_value_double(env, argv[4], &seal_seq));
  CHECK(napi_get_value_double(env, argv[7], &open_seq));
  if (!bytes_of(env, argv[2], &seal_key, &seal_key_len) || !bytes_of(env, argv[3], &seal_iv, &seal_iv_len) ||
      !bytes_of(env, argv[5], &open_key, &open_key_len) || !bytes_of(env, argv[6], &open_iv, &open_iv_len))
    return fail(env, NULL, "create: keys and IVs are Uint8Arrays");
  const EVP_CIPHER *c = cipher == 0 ? EVP_aes_128_gcm() : cipher == 1 ? EVP_aes_256_gcm() : cipher == 2 ? EVP_chacha20_poly1305() : NULL;
  if (c == NULL || (version != 12 && version != 13)) return fail(env, NULL, "create: unknown version or cipher");
  if (seal_iv_len != 12 || open_iv_len != 12 || (int)seal_key_len != EVP_CIPHER_get_key_length(c) || (int)open_key_len != EVP_CIPHER_get_key_length(c))
    return fail(env, NULL, "create: key or IV of the wrong length");
  Layer *l = calloc(1, sizeof(Layer));
  if (l == NULL) return fail(env, NULL, "create: out of memory");
  l->seal = EVP_CIPHER_CTX_new();
  l->open = EVP_CIPHER_CTX_new();
  if (l->seal == NULL || l->open == NULL || EVP_EncryptInit_ex(l->seal, c, NULL, seal_key, NULL) != 1 ||
      EVP_DecryptInit_ex(l->open, c, NULL, open_key, NULL) != 1) {
    finalize(env, l, NULL);
    return fail(env, NULL, "create: the cipher did not initialize");
  }
#if AESNI_GCM
  if (cipher != 2 && aesni_set_encrypt_key && aesni_encrypt && aesni_ctr32_encrypt_blocks && getenv("KANNON_TLS_EVP") == NULL &&
      __builtin_cpu_supports("aes")) {
    int bits = (int)seal_key_len * 8;
    if (aesni_set_encrypt_key(seal_key, bits, &l->aes_seal) == 0 && aesni_set_encrypt_key(open_key, bits, &l->aes_open) == 0) {
      l->gcm_seal = CRYPTO_gcm128_new(&l->aes_seal, (block128_f)aesni_encrypt);
      l->gcm_open = CRYPTO_gcm128_new(&l->aes_open, (block128_f)aesni_encrypt);
      if (l->gcm_seal == NULL || l->gcm_open == NULL) {
        finalize(env, l, NULL);
        return fail(env, NULL, "create: out of memory");
      }
    }
  }
#endif
  l->tls12 = version == 12;
  l->explicit_nonce = version == 12 && cipher != 2;
  memcpy(l->seal_iv, seal_iv, 12);
  memcpy(l->open_iv, open_iv, 12);
  l->seal_seq = (uint64_t)seal_seq;
  l->open_seq = (uint64_t)open_seq;
  napi_value out;
  if (napi_create_external(env, l, finalize, NULL, &out) != napi_ok) {
    finalize(env, l, NULL);
    return fail(env, NULL, "create: node-api external");
  }
  return out;
}

/* Seals n bytes of in, then the content type byte when type >= 0 (TLS 1.3), into out, the tag after. 1 when done. */
static int aead_seal(Layer *l, const unsigned char iv[12], const unsigned char *aad, size_t aad_len, const unsigned char *in, size_t n, int type,
                     unsigned char *out) {
  unsigned char t = (unsigned char)type;
  size_t m = n + (type >= 0 ? 1 : 0);
#if AESNI_GCM
  if (l->gcm_seal != NULL) {
    GCM128_CONTEXT *g = l->gcm_seal;
    CRYPTO_gcm128_setiv(g, iv, 12);
    if (CRYPTO_gcm128_aad(g, aad, aad_len) != 0 || CRYPTO_gcm128_encrypt_ctr32(g, in, out, n, (ctr128_f)aesni_ctr32_encrypt_blocks) != 0 ||
        (type >= 0 && CRYPTO_gcm128_encrypt_ctr32(g, &t, out + n, 1, (ctr128_f)aesni_ctr32_encrypt_blocks) != 0))
      return 0;
    CRYPTO_gcm128_tag(g, out + m, TAG);
    return 1;
  }
#endif
  int w;
  return EVP_EncryptInit_ex(l->seal, NULL, NULL, NULL, iv) == 1 && EVP_EncryptUpdate(l->seal, NULL, &w, aad, (int)aad_len) == 1 &&
         EVP_EncryptUpdate(l->seal, out, &w, in, (int)n) == 1 && (type < 0 || EVP_EncryptUpdate(l->seal, out + n, &w, &t, 1) == 1) &&
         EVP_EncryptFinal_ex(l->seal, out + m, &w) == 1 && EVP_CIPHER_CTX_ctrl(l->seal, EVP_CTRL_AEAD_GET_TAG, TAG, out + m) == 1;
}

/* Opens n bytes of ct (its tag after them) into out. 1 when it decrypted and the tag matched. */
static int aead_open(Layer *l, const unsigned char iv[12], const unsigned char *aad, size_t aad_len, const unsigned char *ct, size_t n, unsigned char *out) {
#if AESNI_GCM
  if (l->gcm_open != NULL) {
    GCM128_CONTEXT *g = l->gcm_open;
    CRYPTO_gcm128_setiv(g, iv, 12);
    return CRYPTO_gcm128_aad(g, aad, aad_len) == 0 && CRYPTO_gcm128_decrypt_ctr32(g, ct, out, n, (ctr128_f)aesni_ctr32_encrypt_blocks) == 0 &&
           CRYPTO_gcm128_finish(g, ct + n, TAG) == 0;
  }
#endif
  int w, w2;
  return EVP_DecryptInit_ex(l->open, NULL, NULL, NULL, iv) == 1 && EVP_DecryptUpdate(l->open, NULL, &w, aad, (int)aad_len) == 1 &&
         EVP_DecryptUpdate(l->open, out, &w, ct, (int)n) == 1 && EVP_CIPHER_CTX_ctrl(l->open, EVP_CTRL_AEAD_SET_TAG, TAG, (void *)(ct + n)) == 1 &&
         EVP_DecryptFinal_ex(l->open, out + w, &w2) == 1;
}

static napi_value seal(napi_env env, napi_callback_info info) {
  Layer *l;
  unsigned char *in, *o;
  size_t len, room;
  if (!layer_args(env, info, &l, &in, &len, &o, &room)) return fail(env, NULL, "seal(layer, Uint8Array, Uint8Array)");
  size_t records = len == 0 ? 1 : (len + MAX_PLAIN - 1) / MAX_PLAIN;
  /* Per record: the head, the explicit nonce (TLS 1.2 GCM) or the content type (TLS 1.3), the tag. */
  size_t extra = l->explicit_nonce ? EXPLICIT : l->tls12 ? 0 : 1;
  size_t total = len + records * (HEAD + extra + TAG);
  if (room < total) return fail(env, NULL, "seal: the output is smaller than the plaintext and 29 bytes per record");
  size_t done = 0;
  for (size_t r = 0; r < records; r++) {
    size_t n = len - done < MAX_PLAIN ? len - done : MAX_PLAIN;
    size_t body = n + extra + TAG;
    unsigned char head[HEAD] = {23, 3, 3, (unsigned char)(body >> 8), (unsigned char)body};
    unsigned char iv[12], aad[13];
    uint64_t seq = l->seal_seq++;
    memcpy(o, head, HEAD);
    unsigned char *ct = o + HEAD;
    if (l->explicit_nonce) {
      be64(ct, seq);
      ct += EXPLICIT;
    }
    nonce(l, iv, l->seal_iv, seq, o + HEAD);
    if (l->tls12) aad12(aad, seq, 23, n);
    if (!aead_seal(l, iv, l->tls12 ? aad : head, l->tls12 ? 13 : HEAD, in + done, n, l->tls12 ? -1 : 23, ct))
      return fail(env, "ERR_TLS_RECORD", "a TLS record did not seal");
    o += HEAD + body;
    done += n;
  }
  napi_value out;
  CHECK(napi_create_uint32(env, (uint32_t)total, &out));
  return out;
}

/* An alert's content: close_notify closes the layer, any other is an error. */
static const char *alert(Layer *l, const unsigned char *content, size_t n, char *msg, size_t msg_len) {
  if (n >= 2 && content[1] == 0) {
    l->closed = 1;
    return NULL;
  }
  snprintf(msg, msg_len, "the target sent TLS alert %u", n >= 2 ? content[1] : 0);
  return "ERR_TLS_ALERT";
}

/* Opens one whole record (head + body); appends its application data to plain at *plain_len.
 * Returns 0, or the error's code (its message in msg). */
static const char *open_record(Layer *l, const unsigned char *rec, size_t body, unsigned char *plain, size_t *plain_len, char *msg, size_t msg_len) {
  /* TLS 1.3 hides the type inside (always application_data outside); TLS 1.2 shows it. */
  if (l->tls12 ? rec[0] != 23 && rec[0] != 21 && rec[0] != 22 : rec[0] != 23) {
    snprintf(msg, msg_len, "a TLS record of outer type %u after the handshake", rec[0]);
    return "ERR_TLS_RECORD";
  }
  size_t extra = l->explicit_nonce ? EXPLICIT : 0;
  if (body < extra + TAG + (l->tls12 ? 0 : 1) || body > MAX_CIPHER(l)) {
    snprintf(msg, msg_len, "a TLS record of %zu bytes", body);
    return "ERR_TLS_RECORD";
  }
  size_t n = body - extra - TAG;
  const unsigned char *ct = rec + HEAD + extra;
  unsigned char *out = plain + *plain_len;
  unsigned char iv[12], aad[13];
  uint64_t seq = l->open_seq++;
  nonce(l, iv, l->open_iv, seq, rec + HEAD);
  if (l->tls12) aad12(aad, seq, rec[0], n);
  if (!aead_open(l, iv, l->tls12 ? aad : rec, l->tls12 ? 13 : HEAD, ct, n, out)) {
    snprintf(msg, msg_len, "a TLS record did not decrypt (record %llu after the handshake)", (unsigned long long)seq);
    return "ERR_TLS_RECORD";
  }
  if (l->tls12) {
    if (rec[0] == 23) {
      *plain_len += n;
      return NULL;
    }
    if (rec[0] == 21) return alert(l, out, n, msg, msg_len);
    snprintf(msg, msg_len, "the target began a TLS renegotiation, which the fast TLS record layer does not follow");
    return "ERR_TLS_RECORD";
  }
  /* TLSInnerPlaintext: content, the real type, zero padding. */
  size_t end = n;
  while (end > 0 && out[end - 1] == 0) end--;
  if (end == 0) {
    snprintf(msg, msg_len, "a TLS record with no content type");
    return "ERR_TLS_RECORD";
  }
  unsigned char type = out[--end];
  if (type == 23) {
    *plain_len += end;
    return NULL;
  }
  if (type == 21) return alert(l, out, end, msg, msg_len);
  if (type == 22) {
    /* Handshake messages, several in a record or one over several (RFC 8446 §5.1): each one's
     * 4-byte header is gathered, then its body skipped; NewSessionTicket (4) is the only one taken. */
    size_t at = 0;
    while (at < end) {
      if (l->hs_owed > 0) {
        size_t skip = end - at < l->hs_owed ? end - at : l->hs_owed;
        at += skip;
        l->hs_owed -= skip;
        continue;
      }
      l->hs_head[l->hs_have++] = out[at++];
      if (l->hs_have < 4) continue;
      l->hs_have = 0;
      if (l->hs_head[0] == 24) {
        snprintf(msg, msg_len, "the target sent a TLS KeyUpdate, which the fast TLS record layer does not follow");
        return "ERR_TLS_KEY_UPDATE";
      }
      if (l->hs_head[0] != 4) {
        snprintf(msg, msg_len, "the target sent TLS handshake message %u after the handshake", l->hs_head[0]);
        return "ERR_TLS_RECORD";
      }
      l->hs_owed = ((size_t)l->hs_head[1] << 16) | ((size_t)l->hs_head[2] << 8) | l->hs_head[3];
    }
    return NULL;
  }
  snprintf(msg, msg_len, "a TLS record of content type %u", type);
  return "ERR_TLS_RECORD";
}

static napi_value open_records(napi_env env, napi_callback_info info) {
  Layer *l;
  unsigned char *in, *plain;
  size_t len, room;
  if (!layer_args(env, info, &l, &in, &len, &plain, &room)) return fail(env, NULL, "open(layer, Uint8Array, Uint8Array)");
  napi_value out;
  if (l->error_code != NULL) return fail(env, l->error_code, l->error);
  if (l->closed) {
    CHECK(napi_create_int32(env, -1, &out));
    return out;
  }
  if (room < l->pending_len + len) return fail(env, NULL, "open: the output is smaller than the bytes to open");
  /* A partial record from before: the new bytes are appended to it. */
  if (l->pending_len > 0) {
    if (l->pending_len + len > l->pending_cap) {
      size_t cap = l->pending_len + len;
      unsigned char *p = realloc(l->pending, cap);
      if (p == NULL) return fail(env, "ERR_TLS_RECORD", "out of memory");
      l->pending = p;
      l->pending_cap = cap;
    }
    memcpy(l->pending + l->pending_len, in, len);
    l->pending_len += len;
    in = l->pending;
    len = l->pending_len;
  }
  size_t at = 0;
  size_t plain_len = 0;
  char msg[160];
  while (len - at >= HEAD && !l->closed) {
    size_t body = ((size_t)in[at + 3] << 8) | in[at + 4];
    const char *code = NULL;
    if (body > MAX_CIPHER(l)) {
      snprintf(msg, sizeof msg, "a TLS record of %zu bytes", body);
      code = "ERR_TLS_RECORD";
    } else if (len - at < HEAD + body) {
      break;
    } else {
      code = open_record(l, in + at, body, plain, &plain_len, msg, sizeof msg);
    }
    if (code != NULL) {
      /* The layer is done; data before the error is delivered first, and the next call throws. */
      l->error_code = code;
      snprintf(l->error, sizeof l->error, "%s", msg);
      if (plain_len == 0) return fail(env, code, msg);
      CHECK(napi_create_int32(env, -1 - (int32_t)plain_len, &out));
      return out;
    }
    at += HEAD + body;
  }
  /* What is left is a partial record: kept (moved to the front when it already was pending). */
  size_t rest = l->closed ? 0 : len - at;
  if (in == l->pending) {
    memmove(l->pending, l->pending + at, rest);
  } else if (rest > 0) {
    if (rest > l->pending_cap) {
      unsigned char *p = realloc(l->pending, rest);
      if (p == NULL) return fail(env, "ERR_TLS_RECORD", "out of memory");
      l->pending = p;
      l->pending_cap = rest;
    }
    memcpy(l->pending, in + at, rest);
  }
  l->pending_len = rest;
  CHECK(napi_create_int32(env, l->closed ? -1 - (int32_t)plain_len : (int32_t)plain_len, &out));
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"create", NULL, create, NULL, NULL, NULL, napi_default, NULL},
      {"seal", NULL, seal, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, open_records, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, 3, props) != napi_ok) return NULL;
  return exports;
}
