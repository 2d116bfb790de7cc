# models/ — GPT-2, the chargpt program, and example models.
noinst_PROGRAMS += demo
demo_SOURCES = models/demo.c
demo_LDADD = libnabla.la $(JEMALLOC_LIBS)
