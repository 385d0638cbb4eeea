# Generated package (drivers/python/generate.sh).
