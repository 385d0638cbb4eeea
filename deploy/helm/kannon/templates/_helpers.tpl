{{/* The release's base name. */}}
{{- define "kannon.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{/* Labels of every object; pass a dict with root and component. */}}
{{- define "kannon.labels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/component: {{ .component }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* Selector labels; pass a dict with root and component. */}}
{{- define "kannon.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The image, never "latest". */}}
{{- define "kannon.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if eq $tag "latest" -}}{{- fail "image.tag must name a version, not latest" -}}{{- end -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}

{{/* The Kafka settings shared by the orchestrator and the drivers: env entries. */}}
{{- define "kannon.kafkaEnv" -}}
- name: KANNON_KAFKA
  value: {{ required "kafka.bootstrap is required: the Kafka bootstrap brokers, HOST:PORT" .Values.kafka.bootstrap | quote }}
{{- with .Values.kafka.topicPrefix }}
- name: KANNON_TOPIC_PREFIX
  value: {{ . | quote }}
{{- end }}
{{- if .Values.kafka.tls.enabled }}
- name: KANNON_KAFKA_TLS
  value: "1"
{{- if .Values.kafka.tls.caSecret }}
- name: KANNON_KAFKA_CA_FILE
  value: /etc/kannon/kafka-ca/{{ .Values.kafka.tls.caKey }}
{{- end }}
{{- end }}
{{- with .Values.kafka.sasl.mechanism }}
- name: KANNON_KAFKA_SASL_MECHANISM
  value: {{ . | quote }}
- name: KANNON_KAFKA_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ required "kafka.sasl.existingSecret is required with kafka.sasl.mechanism" $.Values.kafka.sasl.existingSecret }}
      key: {{ $.Values.kafka.sasl.usernameKey }}
- name: KANNON_KAFKA_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $.Values.kafka.sasl.existingSecret }}
      key: {{ $.Values.kafka.sasl.passwordKey }}
{{- end }}
{{- end -}}

{{/* The CA volume mount and volume, when the brokers' CA comes from a Secret. */}}
{{- define "kannon.caMount" -}}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/kannon/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}
{{- define "kannon.caVolume" -}}
{{- if and .Values.kafka.tls.enabled .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret }}
{{- end }}
{{- end -}}
