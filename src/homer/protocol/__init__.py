"""Wire protocols Homer speaks itself, written sans-I/O so that any transport can pump them."""
