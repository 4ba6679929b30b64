/*
 * config.h - the typed training configuration (mlip-config(5)).
 *
 * A YAML file (see man/man5/mlip-config.5 for every key) is loaded into a
 * yamltree, command-line overrides ("--set optim.lr=1e-4") are applied to the
 * tree, and the tree is checked against the schema and turned into
 * struct mlip_config. Every problem is MLIP_EINVAL with the location of the
 * offending node ("train.yaml:12:9: key 'optim.lr': must be > 0, got '-1'")
 * and, for unknown keys and values, the list of valid ones.
 *
 * Nothing here knows about plugins: loss and normalizer names are any
 * strings; their extra keys are kept as a YAML mapping and as a JSON object
 * text for the plugin's create() call.
 *
 * mlip_config_write_resolved() writes the configuration with every default
 * filled in; loading that text gives a struct that mlip_config_equal() to
 * the original (this is what checkpoints store as resume.yaml).
 */
#ifndef MLIP_CONFIG_H
#define MLIP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "yamltree.h"

enum mlip_cfg_activation { MLIP_CFG_TANH, MLIP_CFG_SILU, MLIP_CFG_SOFTPLUS };
enum mlip_cfg_precision { MLIP_CFG_FLOAT64, MLIP_CFG_FLOAT32 };
enum mlip_cfg_sf_kind { MLIP_CFG_G2, MLIP_CFG_G3, MLIP_CFG_G9 };
enum mlip_cfg_level { MLIP_CFG_SYSTEM, MLIP_CFG_ATOM };
enum mlip_cfg_property { MLIP_CFG_ENERGY, MLIP_CFG_FORCES, MLIP_CFG_STRESS };
enum mlip_cfg_reduction { MLIP_CFG_MEAN, MLIP_CFG_SUM, MLIP_CFG_PER_STRUCTURE };
enum mlip_cfg_elref { MLIP_CFG_ELREF_NONE, MLIP_CFG_ELREF_FIT, MLIP_CFG_ELREF_TABLE };
enum mlip_cfg_strategy { MLIP_CFG_DDP, MLIP_CFG_SHARDED };

/* One symmetry function (share/doc/MODEL.md); g2 uses elements[0] only. */
struct mlip_config_descriptor {
	enum mlip_cfg_sf_kind kind;
	int elements[2];          /* neighbour species Z; [1] is 0 for g2 */
	double eta;               /* Å^-2, >= 0 */
	double rs;                /* Å, >= 0 [0] */
	double lambda;            /* g3/g9: -1 or +1; 0 for g2 */
	double zeta;              /* g3/g9: >= 1; 0 for g2 */
	double cutoff;            /* Å, in (0, model cutoff] [model cutoff] */
};

struct mlip_config_model {
	char *init_from;          /* checkpoint path, or NULL; when set nothing else is */
	char *name;               /* "bpnn" */
	double cutoff;            /* Å, > 0 */
	size_t n_elements;
	int *elements;            /* (n_elements) Z, distinct, in the order given */
	size_t n_hidden;
	int64_t *hidden;          /* (n_hidden) layer widths >= 1 */
	enum mlip_cfg_activation activation;   /* [tanh] */
	size_t n_heads;
	char **heads;             /* (n_heads) distinct names [energy] */
	uint64_t seed;            /* [top-level seed] */
	size_t n_descriptors;     /* 0: the model's default set */
	int64_t angular_shells;   /* radially resolved angular shells added to the default
				     set (mlip_descriptor_angular_shells), >= 0 [0] */
	struct mlip_config_descriptor *descriptors;
	/* model.descriptor: {type: mtp, level, r_min, n_radial, max_order, train_radial}:
	 * the moment tensor basis (mtp.h) instead of symmetry functions; mtp_level 0
	 * when absent */
	int64_t mtp_level;        /* even, 2..28 */
	double mtp_r_min;         /* Å, [0], < cutoff */
	int64_t mtp_n_radial;     /* Chebyshev functions, 0..64 [0: max(8, n_mu)] */
	int64_t mtp_max_order;    /* moments per basis function, 1..3 [3] */
	int64_t mtp_n_pair;       /* two-body functions M_{μ,0}, μ < n_pair, 0..64 [0: the level's] */
	bool mtp_train_radial;    /* radial coefficients trained (tensor mtp.radial) [false] */
	enum mlip_cfg_precision precision;     /* [float64] */
};

/* A plugin reference: name plus the remaining keys as parameters. */
struct mlip_config_plugin {
	char *name;                       /* NULL: none (normalizers only) */
	struct mlip_yaml_node *params;    /* mapping of parameters (owned; may be empty) */
	char *params_json;                /* the same as a JSON object text (owned), "{}" if none */
};

struct mlip_config_task {
	char *name;
	enum mlip_cfg_level level;        /* [from property] */
	enum mlip_cfg_property property;
	char *head;                       /* [energy] */
	size_t n_datasets;
	char **datasets;                  /* (n_datasets) exact names; >= 1 unless inference_only */
	struct mlip_config_plugin loss;   /* required unless inference_only (name NULL then) */
	double loss_coefficient;          /* >= 0 [1.0] */
	enum mlip_cfg_reduction loss_reduction;  /* [mean] */
	struct mlip_config_plugin normalizer;    /* name NULL: none */
	enum mlip_cfg_elref elref;        /* [none]; energy tasks only */
	size_t n_elref;
	int *elref_z;                     /* (n_elref) table: Z */
	double *elref_value;              /* (n_elref) table: eV */
	size_t n_metrics;
	char **metrics;                   /* (n_metrics) metric names [mae] */
	double energy_threshold;          /* eV, energy_within_threshold [0.02] */
	bool train_on_free_atoms;         /* [true] */
	bool eval_on_free_atoms;          /* [true] */
	bool inference_only;              /* [false] */
};

/* optim.ridge unless given: relative to the normal matrix's mean diagonal (lstsq.h) */
#define MLIP_CFG_DEFAULT_RIDGE 1e-8

/* optim.lbfgs.scaling: H₀'s diagonal (lbfgs.h) */
enum mlip_cfg_lbfgs_scaling {
	MLIP_CFG_SCALING_ADAMW,           /* 1/√v̂ of AdamW's second moments (identity without) */
	MLIP_CFG_SCALING_NONE,            /* the identity */
};

struct mlip_config_optim {
	char *name;                       /* "adamw" [default] or "lstsq" */
	double lr;                        /* > 0, required for adamw; 0 when absent (lstsq) */
	double weight_decay;              /* >= 0 [0] */
	double betas[2];                  /* each in [0, 1) [0.9, 0.999] */
	double eps;                       /* > 0 [1e-8] */
	int64_t lbfgs_steps;              /* lbfgs.steps: L-BFGS iterations after the schedule,
					     >= 0 [0 = none] */
	int64_t lbfgs_history;            /* lbfgs.history: pairs kept, >= 1 [10] */
	int lbfgs_scaling;                /* lbfgs.scaling: enum mlip_cfg_lbfgs_scaling [adamw] */
	double ridge;                     /* lstsq only: relative ridge, >= 0 [1e-8] */
};

struct mlip_config_schedule {
	bool given;                       /* the section is there (optional for optim.name lstsq) */
	double warmup_factor;             /* [0, 1] [0.2] */
	bool warmup_in_steps;             /* warmup_steps given (else warmup_epochs) */
	double warmup_epochs;             /* >= 0 [0] */
	int64_t warmup_steps;             /* >= 0 */
	double lr_min_factor;             /* [0, 1] [0.01] */
	bool in_steps;                    /* steps given (else epochs); exactly one is */
	int64_t epochs;                   /* >= 1 */
	int64_t steps;                    /* >= 1 */
};

struct mlip_config_train {
	double clip_grad_norm;            /* 0 = off [off] */
	bool ema;                         /* ema_decay given */
	double ema_decay;                 /* in (0, 1) */
	int64_t print_every;              /* steps, 0 = never [10] */
	int64_t eval_every;               /* steps, 0 = epoch ends only [0] */
	int64_t checkpoint_every;         /* steps, 0 = off [0] */
	int64_t max_saved_checkpoints;    /* >= 1 [2] */
	enum mlip_cfg_strategy strategy;  /* [ddp] */
	int64_t max_nonfinite_steps;      /* >= 1 [10] */
	bool debug_checksums;             /* [false] */
	bool profile_flops;               /* [false] */
	bool save_inference_ckpt;         /* [true] */
	bool eval_at_start;               /* evaluate before the first step [false] */
};

struct mlip_config_data {
	size_t n_train, n_val;
	char **train;                     /* (n_train) batch streams, "-" = stdin; >= 1 */
	char **val;                       /* (n_val) [none] */
};

struct mlip_config {
	struct mlip_yaml_node *tree;      /* the source tree after overrides (owned) */
	uint64_t seed;                    /* [0] */
	struct mlip_config_data data;
	struct mlip_config_model model;
	size_t n_tasks;
	struct mlip_config_task *tasks;   /* (n_tasks) >= 1, distinct names */
	struct mlip_config_optim optim;
	struct mlip_config_schedule schedule;
	struct mlip_config_train train;
};

/* Zero cfg so that mlip_config_release is safe. */
void mlip_config_init(struct mlip_config *cfg);

/* Free everything cfg owns and zero it. */
void mlip_config_release(struct mlip_config *cfg);

/*
 * Load the file at path ("-" = stdin; NULL = start from an empty config),
 * apply n_overrides overrides in order: "KEY=VALUE" sets (mlip_yaml_set
 * syntax), a bare "KEY" removes the key or sequence item (mlip_yaml_unset),
 * check and convert. On failure cfg is left released (zeroed). A config read
 * from stdin may not name "-" as a batch stream.
 *   const char *ov[] = { "optim.lr=1e-4", "model.hidden=[32,32]" };
 *   if (mlip_config_load("train.yaml", ov, 2, &cfg, &err)) ...
 */
int mlip_config_load(const char *path, const char *const *overrides, size_t n_overrides,
		     struct mlip_config *cfg, struct mlip_err *err);

/* The same from text; name labels the locations. */
int mlip_config_load_string(const char *text, size_t len, const char *name,
			    const char *const *overrides, size_t n_overrides,
			    struct mlip_config *cfg, struct mlip_err *err);

/*
 * Check and convert a tree that the caller built or merged (fine-tuning:
 * the checkpoint's config deep-merged with the user's). Takes tree, also on
 * failure.
 */
int mlip_config_from_tree(struct mlip_yaml_node *tree, struct mlip_config *cfg,
			  struct mlip_err *err);

/*
 * The resolved configuration: every key with its value or default, as a
 * new tree (caller frees), as YAML text (malloc'd) or written to f.
 */
int mlip_config_resolved_tree(const struct mlip_config *cfg, struct mlip_yaml_node **tree,
			      struct mlip_err *err);
int mlip_config_resolved_text(const struct mlip_config *cfg, char **text, size_t *len,
			      struct mlip_err *err);
int mlip_config_write_resolved(const struct mlip_config *cfg, FILE *f, struct mlip_err *err);

/* Every typed field equal (plugin parameters compared as trees); tree ignored. */
bool mlip_config_equal(const struct mlip_config *a, const struct mlip_config *b);

/* Names of enum values as written in the config ("silu", "per_structure", ...). */
const char *mlip_cfg_activation_name(enum mlip_cfg_activation a);
const char *mlip_cfg_precision_name(enum mlip_cfg_precision p);
const char *mlip_cfg_sf_kind_name(enum mlip_cfg_sf_kind k);
const char *mlip_cfg_level_name(enum mlip_cfg_level l);
const char *mlip_cfg_property_name(enum mlip_cfg_property p);
const char *mlip_cfg_reduction_name(enum mlip_cfg_reduction r);
const char *mlip_cfg_strategy_name(enum mlip_cfg_strategy s);

/* The task named name, or NULL. */
const struct mlip_config_task *mlip_config_task(const struct mlip_config *cfg, const char *name);

#endif
