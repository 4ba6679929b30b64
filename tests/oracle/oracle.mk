# tests/oracle/oracle.mk - the oracle dump for the independent PyTorch check
# (tests/cli/t0500-oracle-torch.sh, t0505-oracle-mtp.sh, bench/peers/), included by the top
# Makefile:
#   include tests/oracle/oracle.mk
# `make oracle` builds build/tests/oracle/oracle_dump; `make cli-tests`
# depends on it.

ORACLE_DUMP = build/tests/oracle/oracle_dump

$(ORACLE_DUMP): tests/oracle/oracle_dump.c lib/libmlip.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< lib/libmlip.a $(LIBS)

.PHONY: oracle
oracle: $(ORACLE_DUMP)

cli-tests: $(ORACLE_DUMP)

-include $(ORACLE_DUMP).d
