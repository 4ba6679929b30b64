/*
 * stub.h - working ops for the deliberately broken test plugins, so that
 * each tests/plugins/mlip-*.c breaks exactly one thing in its record.
 */
#ifndef MLIP_TEST_STUB_H
#define MLIP_TEST_STUB_H

#include "mlip_plugin.h"

static int stub_create(void **state, const char *params, const struct mlip_host_api *host, char *err)
{
	*state = NULL;
	return 0;
}

static void stub_destroy(void *state)
{
}

static int stub_eval(void *state, double *loss, const struct mlip_loss_input *in, char *err)
{
	for (size_t i = 0; i < in->n * in->d; i++)
		loss[i] = 0;
	return 0;
}

static int stub_norm(void *state, double *out, const double *in, size_t n, char *err)
{
	memmove(out, in, n * sizeof(*out));
	return 0;
}

static const struct mlip_plugin_ops stub_ops = {
	.ops_size = sizeof(struct mlip_plugin_ops),
	.create = stub_create,
	.destroy = stub_destroy,
	.eval = stub_eval,
	.norm = stub_norm,
	.denorm = stub_norm,
};

#endif
