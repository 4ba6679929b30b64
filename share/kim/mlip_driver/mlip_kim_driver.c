/*
 * mlip_kim_driver.c - the KIM portable-model driver `mlip_model_driver`:
 * a trained mlip potential (an inference checkpoint, model.mlip) evaluated
 * through libmlip (mlip.h) inside any KIM simulator (LAMMPS `kim init`,
 * ASE's KIM calculator, ...).
 *
 * Parameter files of a model item: 1) the model.mlip file; 2) optionally a
 * text file whose first word is the head to evaluate (multi-head models;
 * head 0 otherwise). mlip-kim-install(1) writes both.
 *
 * Conventions:
 *   - species codes are atomic numbers, so the simulator's
 *     particleSpeciesCodes array is libmlip's `numbers` array as it stands;
 *   - one full neighbour list at the model's cutoff, whose neighbours of
 *     ghost particles are never asked for (modelWillNotRequestNeighbors-
 *     OfNoncontributingParticles = 1): ghosts only receive forces;
 *   - the model works in Å and eV; other length and energy units are served
 *     by scaling positions on the way in and results on the way out, with
 *     KIM's own conversion factors (charge, temperature, time are unused);
 *   - KIM's virial is the opposite of the LAMMPS / mlip one (KIM:
 *     +Σ r_ij ⊗ ∂E/∂r_ij, mlip: W = −Σ r_ij ⊗ ∂E/∂r_ij = Σ r_i ⊗ F_i) and
 *     is stored as Voigt (xx, yy, zz, yz, xz, xy); LAMMPS flips both back;
 *   - mlip's per-atom virial is a 3×3 tensor W_ab = Σ r_a F_b; the Voigt
 *     off-diagonals take its upper triangle (xy = W_01), which is what
 *     LAMMPS's own many-body styles tally.
 *
 * A model whose energy carries a per-structure constant (an energy
 * normalizer with a non-zero mean) is refused: KIM sums per-particle
 * contributions over domains and ranks, and a constant per structure has no
 * particle to belong to.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include "KIM_ModelDriverHeaders.h"
#include "mlip.h"

#define DRIVER_NAME "mlip_model_driver"

struct driver {
	mlip_calculator *calc;
	double influence_distance;          /* the model cutoff in the simulator's length unit */
	double cutoffs[1];                  /* the one neighbour list's cutoff (same) */
	int will_not_request_ghost_neighbors[1];
	double length_factor;               /* simulator length units per Å */
	double energy_factor;               /* simulator energy units per eV */
	int convert;                        /* either factor differs from 1 */

	/* scratch of one compute call, grown as needed */
	size_t cap;                         /* particles the arrays below hold */
	const int **neighbors;              /* (cap) into nbr_buf */
	int *n_neighbors;                   /* (cap) */
	double *positions;                  /* (cap, 3) in Å, only when convert */
	double *atomic_virials;             /* (cap, 9) */
	int *nbr_buf;                       /* (nbr_cap) copies of the lists */
	size_t nbr_cap;
};


/*
 * A failure is logged to KIM's log (kim.log) and also printed on stderr:
 * simulators report only "KIM ModelCreate failed" and the reason would
 * otherwise sit unread in a log file.
 */
#define FAIL_CREATE(mdc, ...) fail_create((mdc), __LINE__, __VA_ARGS__)
static int fail_create(KIM_ModelDriverCreate *mdc, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_create(KIM_ModelDriverCreate *mdc, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	KIM_ModelDriverCreate_LogEntry(mdc, KIM_LOG_VERBOSITY_error, msg, line, __FILE__);
	fprintf(stderr, DRIVER_NAME ": error: %s\n", msg);
	return 1;
}

static int fail_compute(const KIM_ModelComputeArguments *mca, int line, const char *msg)
{
	KIM_ModelComputeArguments_LogEntry(mca, KIM_LOG_VERBOSITY_error, msg, line, __FILE__);
	fprintf(stderr, DRIVER_NAME ": error: %s\n", msg);
	return 1;
}

static void driver_free(struct driver *d)
{
	if (!d)
		return;
	mlip_close(d->calc);
	free(d->neighbors);
	free(d->n_neighbors);
	free(d->positions);
	free(d->atomic_virials);
	free(d->nbr_buf);
	free(d);
}

/* The head named in the optional second parameter file: its first word. */
static int read_head(KIM_ModelDriverCreate *mdc, const char *path, char *head, size_t size)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return FAIL_CREATE(mdc, "cannot open the head file '%s'", path);
	int c;
	size_t n = 0;
	while ((c = fgetc(f)) != EOF && isspace(c))
		;
	while (c != EOF && !isspace(c)) {
		if (n + 1 >= size) {
			fclose(f);
			return FAIL_CREATE(mdc, "head name in '%s' is too long", path);
		}
		head[n++] = (char)c;
		c = fgetc(f);
	}
	head[n] = '\0';
	fclose(f);
	if (n == 0)
		return FAIL_CREATE(mdc, "the head file '%s' names no head", path);
	return 0;
}

/*
 * Length and energy units: the simulator's if KIM can convert to them, else
 * (unused) Å and eV. Sets the factors; charge, temperature and time are not
 * used by the model.
 */
static int setup_units(KIM_ModelDriverCreate *mdc, struct driver *d, KIM_LengthUnit rl,
		       KIM_EnergyUnit re)
{
	KIM_LengthUnit lu = KIM_LengthUnit_Equal(rl, KIM_LENGTH_UNIT_unused) ? KIM_LENGTH_UNIT_A : rl;
	KIM_EnergyUnit eu = KIM_EnergyUnit_Equal(re, KIM_ENERGY_UNIT_unused) ? KIM_ENERGY_UNIT_eV : re;
	double lf = 1, ef = 1;
	if (KIM_ModelDriverCreate_ConvertUnit(KIM_LENGTH_UNIT_A, KIM_ENERGY_UNIT_eV,
					      KIM_CHARGE_UNIT_e, KIM_TEMPERATURE_UNIT_K, KIM_TIME_UNIT_ps,
					      lu, eu, KIM_CHARGE_UNIT_e, KIM_TEMPERATURE_UNIT_K,
					      KIM_TIME_UNIT_ps, 1, 0, 0, 0, 0, &lf) ||
	    KIM_ModelDriverCreate_ConvertUnit(KIM_LENGTH_UNIT_A, KIM_ENERGY_UNIT_eV,
					      KIM_CHARGE_UNIT_e, KIM_TEMPERATURE_UNIT_K, KIM_TIME_UNIT_ps,
					      lu, eu, KIM_CHARGE_UNIT_e, KIM_TEMPERATURE_UNIT_K,
					      KIM_TIME_UNIT_ps, 0, 1, 0, 0, 0, &ef))
		return FAIL_CREATE(mdc, "cannot convert Å and eV to %s and %s",
				   KIM_LengthUnit_ToString(lu), KIM_EnergyUnit_ToString(eu));
	if (KIM_ModelDriverCreate_SetUnits(mdc, lu, eu, KIM_CHARGE_UNIT_unused,
					   KIM_TEMPERATURE_UNIT_unused, KIM_TIME_UNIT_unused))
		return FAIL_CREATE(mdc, "cannot set the units %s and %s", KIM_LengthUnit_ToString(lu),
				   KIM_EnergyUnit_ToString(eu));
	d->length_factor = lf;
	d->energy_factor = ef;
	d->convert = lf != 1.0 || ef != 1.0;
	return 0;
}

static int grow(struct driver *d, size_t n)
{
	if (n <= d->cap)
		return 0;
	size_t cap = n + n / 4 + 64;
	const int **nb = realloc(d->neighbors, cap * sizeof *nb);
	if (nb)
		d->neighbors = nb;
	int *nn = realloc(d->n_neighbors, cap * sizeof *nn);
	if (nn)
		d->n_neighbors = nn;
	/* contents are not kept between calls: free and allocate */
	free(d->positions);
	free(d->atomic_virials);
	d->positions = malloc(cap * 3 * sizeof(double));
	d->atomic_virials = malloc(cap * 9 * sizeof(double));
	if (!nb || !nn || !d->positions || !d->atomic_virials) {
		d->cap = 0;
		return 1;
	}
	d->cap = cap;
	return 0;
}

static int compute_arguments_create(const KIM_ModelCompute *mc,
				    KIM_ModelComputeArgumentsCreate *mcac)
{
	(void)mc;
	const KIM_ComputeArgumentName outputs[] = {
		KIM_COMPUTE_ARGUMENT_NAME_partialEnergy,
		KIM_COMPUTE_ARGUMENT_NAME_partialForces,
		KIM_COMPUTE_ARGUMENT_NAME_partialParticleEnergy,
		KIM_COMPUTE_ARGUMENT_NAME_partialVirial,
		KIM_COMPUTE_ARGUMENT_NAME_partialParticleVirial,
	};
	for (size_t k = 0; k < sizeof outputs / sizeof outputs[0]; k++)
		if (KIM_ModelComputeArgumentsCreate_SetArgumentSupportStatus(mcac, outputs[k],
									     KIM_SUPPORT_STATUS_optional))
			return 1;
	return 0;
}

static int compute_arguments_destroy(const KIM_ModelCompute *mc,
				     KIM_ModelComputeArgumentsDestroy *mcad)
{
	(void)mc;
	(void)mcad;
	return 0;
}

/* mlip's 3×3 W (row-major) → KIM's Voigt virial, sign flipped and scaled. */
static void to_kim_virial(double *out, const double *w, double scale)
{
	out[0] = -scale * w[0];
	out[1] = -scale * w[4];
	out[2] = -scale * w[8];
	out[3] = -scale * w[5];
	out[4] = -scale * w[2];
	out[5] = -scale * w[1];
}

static int compute(const KIM_ModelCompute *mc, const KIM_ModelComputeArguments *mca)
{
	struct driver *d;
	KIM_ModelCompute_GetModelBufferPointer(mc, (void **)&d);

	int *np = NULL, *species = NULL, *contributing = NULL;
	double *coords = NULL, *energy = NULL, *forces = NULL, *p_energy = NULL, *virial = NULL,
	       *p_virial = NULL;
	if (KIM_ModelComputeArguments_GetArgumentPointerInteger(
		    mca, KIM_COMPUTE_ARGUMENT_NAME_numberOfParticles, &np) ||
	    KIM_ModelComputeArguments_GetArgumentPointerInteger(
		    mca, KIM_COMPUTE_ARGUMENT_NAME_particleSpeciesCodes, &species) ||
	    KIM_ModelComputeArguments_GetArgumentPointerInteger(
		    mca, KIM_COMPUTE_ARGUMENT_NAME_particleContributing, &contributing) ||
	    KIM_ModelComputeArguments_GetArgumentPointerDouble(
		    mca, KIM_COMPUTE_ARGUMENT_NAME_coordinates, &coords) ||
	    KIM_ModelComputeArguments_GetArgumentPointerDouble(
		    mca, KIM_COMPUTE_ARGUMENT_NAME_partialEnergy, &energy) ||
	    KIM_ModelComputeArguments_GetArgumentPointerDouble(
		    mca, KIM_COMPUTE_ARGUMENT_NAME_partialForces, &forces) ||
	    KIM_ModelComputeArguments_GetArgumentPointerDouble(
		    mca, KIM_COMPUTE_ARGUMENT_NAME_partialParticleEnergy, &p_energy) ||
	    KIM_ModelComputeArguments_GetArgumentPointerDouble(
		    mca, KIM_COMPUTE_ARGUMENT_NAME_partialVirial, &virial) ||
	    KIM_ModelComputeArguments_GetArgumentPointerDouble(
		    mca, KIM_COMPUTE_ARGUMENT_NAME_partialParticleVirial, &p_virial))
		return fail_compute(mca, __LINE__, "cannot get the compute arguments");
	if (*np < 0)
		return fail_compute(mca, __LINE__, "negative number of particles");
	size_t n = (size_t)*np;
	if (grow(d, n))
		return fail_compute(mca, __LINE__, "out of memory");

	/*
	 * Copy the neighbour lists: a list is only guaranteed to be valid until
	 * the next GetNeighborList call (LAMMPS with molecular atom styles hands
	 * out one reused buffer), and libmlip needs all of them at once.
	 */
	size_t used = 0;
	for (size_t i = 0; i < n; i++) {
		d->n_neighbors[i] = 0;
		if (!contributing[i])
			continue;
		int nn;
		const int *list;
		if (KIM_ModelComputeArguments_GetNeighborList(mca, 0, (int)i, &nn, &list))
			return fail_compute(mca, __LINE__, "cannot get a neighbour list");
		if (used + (size_t)nn > d->nbr_cap) {
			size_t cap = 2 * (used + (size_t)nn) + 1024;
			int *b = realloc(d->nbr_buf, cap * sizeof *b);
			if (!b)
				return fail_compute(mca, __LINE__, "out of memory");
			d->nbr_buf = b;
			d->nbr_cap = cap;
		}
		memcpy(d->nbr_buf + used, list, (size_t)nn * sizeof *list);
		d->n_neighbors[i] = nn;
		used += (size_t)nn;
	}
	/* pointers only once the buffer has stopped moving */
	used = 0;
	for (size_t i = 0; i < n; i++) {
		d->neighbors[i] = d->nbr_buf + used;
		used += (size_t)d->n_neighbors[i];
	}

	const double *pos = coords;
	if (d->convert) {
		double inv = 1.0 / d->length_factor;
		for (size_t k = 0; k < 3 * n; k++)
			d->positions[k] = coords[k] * inv;
		pos = d->positions;
	}
	double w[9];
	int rc = mlip_compute_neighbors(d->calc, n, species, pos, contributing, d->neighbors,
					d->n_neighbors, energy, forces, virial ? w : NULL, p_energy,
					p_virial ? d->atomic_virials : NULL);
	if (rc)
		return fail_compute(mca, __LINE__, mlip_errmsg(d->calc));

	double ef = d->energy_factor;
	if (d->convert) {
		double ff = ef / d->length_factor;
		if (energy)
			*energy *= ef;
		if (forces)
			for (size_t k = 0; k < 3 * n; k++)
				forces[k] *= ff;
		if (p_energy)
			for (size_t i = 0; i < n; i++)
				p_energy[i] *= ef;
	}
	if (virial)
		to_kim_virial(virial, w, ef);
	if (p_virial)
		for (size_t i = 0; i < n; i++)
			to_kim_virial(p_virial + 6 * i, d->atomic_virials + 9 * i, ef);
	return 0;
}

static int destroy(KIM_ModelDestroy *md)
{
	struct driver *d;
	KIM_ModelDestroy_GetModelBufferPointer(md, (void **)&d);
	driver_free(d);
	return 0;
}

int mlip_kim_driver_create(KIM_ModelDriverCreate *mdc, KIM_LengthUnit rl, KIM_EnergyUnit re,
			   KIM_ChargeUnit rc, KIM_TemperatureUnit rt, KIM_TimeUnit rtime);

int mlip_kim_driver_create(KIM_ModelDriverCreate *mdc, KIM_LengthUnit rl, KIM_EnergyUnit re,
			   KIM_ChargeUnit rc, KIM_TemperatureUnit rt, KIM_TimeUnit rtime)
{
	(void)rc;
	(void)rt;
	(void)rtime;
	int n_files = 0;
	KIM_ModelDriverCreate_GetNumberOfParameterFiles(mdc, &n_files);
	if (n_files < 1 || n_files > 2)
		return FAIL_CREATE(mdc, "expected 1 or 2 parameter files (model.mlip, then the head), got %d",
				   n_files);
	const char *dir = NULL, *base = NULL;
	KIM_ModelDriverCreate_GetParameterFileDirectoryName(mdc, &dir);
	char model_path[4096], head_path[4096], head[256] = "";
	if (KIM_ModelDriverCreate_GetParameterFileBasename(mdc, 0, &base))
		return FAIL_CREATE(mdc, "cannot get the name of parameter file 0");
	snprintf(model_path, sizeof model_path, "%s/%s", dir, base);
	if (n_files == 2) {
		if (KIM_ModelDriverCreate_GetParameterFileBasename(mdc, 1, &base))
			return FAIL_CREATE(mdc, "cannot get the name of parameter file 1");
		snprintf(head_path, sizeof head_path, "%s/%s", dir, base);
		if (read_head(mdc, head_path, head, sizeof head))
			return 1;
	}

	struct driver *d = calloc(1, sizeof *d);
	if (!d)
		return FAIL_CREATE(mdc, "out of memory");
	char msg[512];
	if (mlip_open(model_path, &d->calc, msg, sizeof msg)) {
		FAIL_CREATE(mdc, "%s", msg);
		driver_free(d);
		return 1;
	}
	if (head[0] && mlip_set_head(d->calc, head)) {
		FAIL_CREATE(mdc, "%s", mlip_errmsg(d->calc));
		driver_free(d);
		return 1;
	}
	/* MD codes run one rank per core: no threads of our own (OpenBLAS's default is
	 * every core) unless the user asks for them */
	if (!getenv("OMP_NUM_THREADS") && !getenv("OPENBLAS_NUM_THREADS"))
		mlip_set_threads(d->calc, 1);
	double shift = mlip_energy_shift(d->calc);
	if (shift != 0) {
		FAIL_CREATE(mdc,
			    "the model's head '%s' adds %.17g eV once per structure (an energy "
			    "normalizer mean): its energy is not a sum of atomic energies, which KIM "
			    "needs; retrain with the normalizer's default mean 0",
			    head[0] ? head : mlip_head_name(d->calc, 0), shift);
		driver_free(d);
		return 1;
	}
	if (setup_units(mdc, d, rl, re)) {
		driver_free(d);
		return 1;
	}
	d->influence_distance = mlip_cutoff(d->calc) * d->length_factor;
	d->cutoffs[0] = d->influence_distance;
	d->will_not_request_ghost_neighbors[0] = 1;

	if (KIM_ModelDriverCreate_SetModelNumbering(mdc, KIM_NUMBERING_zeroBased)) {
		driver_free(d);
		return FAIL_CREATE(mdc, "cannot set zero-based numbering");
	}
	int ne = mlip_n_elements(d->calc);
	for (int k = 0; k < ne; k++) {
		/* KIM names species by symbol, mlip by atomic number */
		int z = mlip_element(d->calc, k);
		const char *sym = mlip_symbol(z);
		if (!sym) {
			driver_free(d);
			return FAIL_CREATE(mdc, "the model's element %d has no KIM species name", z);
		}
		KIM_SpeciesName sp = KIM_SpeciesName_FromString(sym);
		if (!KIM_SpeciesName_Known(sp) || KIM_ModelDriverCreate_SetSpeciesCode(mdc, sp, z)) {
			driver_free(d);
			return FAIL_CREATE(mdc, "KIM does not know the species '%s'", sym);
		}
	}
	KIM_ModelDriverCreate_SetInfluenceDistancePointer(mdc, &d->influence_distance);
	KIM_ModelDriverCreate_SetNeighborListPointers(mdc, 1, d->cutoffs,
						      d->will_not_request_ghost_neighbors);
	if (KIM_ModelDriverCreate_SetRoutinePointer(
		    mdc, KIM_MODEL_ROUTINE_NAME_ComputeArgumentsCreate, KIM_LANGUAGE_NAME_c, 1,
		    (KIM_Function *)compute_arguments_create) ||
	    KIM_ModelDriverCreate_SetRoutinePointer(mdc, KIM_MODEL_ROUTINE_NAME_Compute,
						    KIM_LANGUAGE_NAME_c, 1, (KIM_Function *)compute) ||
	    KIM_ModelDriverCreate_SetRoutinePointer(
		    mdc, KIM_MODEL_ROUTINE_NAME_ComputeArgumentsDestroy, KIM_LANGUAGE_NAME_c, 1,
		    (KIM_Function *)compute_arguments_destroy) ||
	    KIM_ModelDriverCreate_SetRoutinePointer(mdc, KIM_MODEL_ROUTINE_NAME_Destroy,
						    KIM_LANGUAGE_NAME_c, 1, (KIM_Function *)destroy)) {
		driver_free(d);
		return FAIL_CREATE(mdc, "cannot register the driver's routines");
	}
	KIM_ModelDriverCreate_SetModelBufferPointer(mdc, d);
	return 0;
}
