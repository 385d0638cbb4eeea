# Generated package (python/generate.sh).
