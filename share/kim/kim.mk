# share/kim/kim.mk - mlip in KIM simulators (LAMMPS `kim init`), included by
# the top Makefile, whose install / uninstall run install-kim / uninstall-kim
# through EXTRA_INSTALL / EXTRA_UNINSTALL.
#
#   bin/mlip-kim-install   the installer: cmd/mlip-kim-install.sh (POSIX sh)
#                          with the version filled in; part of `make all`
#   make kim-tests         its tests, tests/cli/t070*-kim-*.sh (they skip
#                          without LAMMPS or the KIM API tools)
#
# The KIM driver itself (share/kim/mlip_driver/) is not built here:
# mlip-kim-install builds it into a KIM collection, against the libmlip of
# wherever mlip is then (this tree, or the installed prefix, whose
# share/mlip/kim/ `make install` fills with the rest of share/).
KIM_PROGRAMS = bin/mlip-kim-install

all: $(KIM_PROGRAMS)

bin/mlip-kim-install: cmd/mlip-kim-install.sh share/kim/kim.mk
	@mkdir -p bin
	sed 's/@VERSION@/$(VERSION)/' cmd/mlip-kim-install.sh > $@.tmp && chmod 755 $@.tmp && mv $@.tmp $@

EXTRA_INSTALL += install-kim
EXTRA_UNINSTALL += uninstall-kim
.PHONY: install-kim uninstall-kim kim-tests

install-kim: $(KIM_PROGRAMS)
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 $(KIM_PROGRAMS) $(DESTDIR)$(BINDIR)

uninstall-kim:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(KIM_PROGRAMS)))

kim-tests: all
	@sh tests/cli/run.sh $(patsubst tests/cli/%.sh,%,$(wildcard tests/cli/t070*-kim-*.sh))
