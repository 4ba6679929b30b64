# bench/accuracy.mk - make bench-accuracy: train the two recipes
# (share/configs/bpnn.yaml and share/configs/mtp.yaml) on the mlearn Si and
# Li training sets, test-set errors and training time to stdout and
# bench/RESULTS.md. Included by the top Makefile:
#   include bench/accuracy.mk
# Data: MLIP_MLEARN_DIR (default ../shared/data/mlearn). About 12 minutes.

.PHONY: bench-accuracy
bench-accuracy: all
	@sh bench/accuracy.sh
