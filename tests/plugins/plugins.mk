# tests/plugins/plugins.mk - test plugins for tests/check_plugin.c, included
# by the top Makefile (after PLUGINS is defined):
#   - deliberately broken plugins, tests/plugins/mlip-*.c, one fault each
#     (wrong ABI, entry not exported, NULL ops, short record, wrong kind...);
#   - tests/plugins/shadow/mlip-loss-mae.so, a second "mae" for the
#     search-order test;
#   - tests/plugins/mlip-loss-example.so, built from the plugin template in
#     share/ to prove that it compiles and works.
# `make test-plugins` builds them; `make unit` depends on it.

TEST_PLUGIN_SRC = $(wildcard tests/plugins/mlip-*.c tests/plugins/*/mlip-*.c)
TEST_PLUGINS = $(TEST_PLUGIN_SRC:.c=.so) tests/plugins/mlip-loss-example.so
TEST_PLUGIN_CFLAGS = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -Iplugins $(CFLAGS) \
	-fPIC -shared -fvisibility=hidden

tests/plugins/%.so: tests/plugins/%.c tests/plugins/stub.h plugins/mlip_plugin.h
	$(CC) $(TEST_PLUGIN_CFLAGS) -o $@ $< -lm

tests/plugins/mlip-loss-example.so: share/plugin-template/loss_example.c plugins/mlip_plugin.h
	$(CC) $(TEST_PLUGIN_CFLAGS) -o $@ $< -lm

.PHONY: test-plugins clean-test-plugins
test-plugins: $(PLUGINS) $(TEST_PLUGINS)

unit cli-tests: test-plugins

clean: clean-test-plugins
clean-test-plugins:
	rm -f $(TEST_PLUGINS)
