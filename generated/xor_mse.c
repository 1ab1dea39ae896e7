/* GENERATED FILE - do not edit. Regenerate with `make derive SPEC=specs/xor_mse.toml`.
 *
 * A 2-3-1 tanh network with a linear output and mean squared error on XOR.
 * The whole gradient-descent loop in C, printed by SymPy from the same derivation as
 * generated/xor_mse.py (derive/templates/train_loop.c.j2).
 * train.py --backend c compiles it with the system C compiler and loads it with ctypes,
 * only beside the module whose own hash (MODULE_SHA256) it names here:
 * module-sha256: 5c414ccee69bfb7d62bcf4b2f70f3bfc41e9fe40f394482ae5030c22f748d8ec
 * source-sha256: 00aa83d4866658a2cbcc6d6978787f5b021a2fba7e53e56269eaaca47f3abe8c
 * (train.py compiles this file only while that hash of it holds: edit the spec, not this.)
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Parameters, flat and in this order (C order within each array):
 *   W1 (3, 2): params[0..5]
 *   b1 (3,): params[6..8]
 *   w2 (3,): params[9..11]
 *   b2 (): params[12..12]
 */
int n_params(void) { return 13; }

/* Full-batch gradient descent: `epochs` steps of theta <- theta - lr * dL/dtheta over the
 * n samples X (n x 2, row-major) with targets y. params is updated in place;
 * losses[e] receives the loss before update e. */
void train(double *params, const double *X, const double *targets, int n, double lr,
           int epochs, double *losses)
{
    double W1_1_1 = params[0];
    double W1_1_2 = params[1];
    double W1_2_1 = params[2];
    double W1_2_2 = params[3];
    double W1_3_1 = params[4];
    double W1_3_2 = params[5];
    double b1_1 = params[6];
    double b1_2 = params[7];
    double b1_3 = params[8];
    double w2_1 = params[9];
    double w2_2 = params[10];
    double w2_3 = params[11];
    double b2 = params[12];
    for (int epoch = 0; epoch < epochs; ++epoch) {
        double total = 0.0;
        double g_W1_1_1 = 0.0;
        double g_W1_1_2 = 0.0;
        double g_W1_2_1 = 0.0;
        double g_W1_2_2 = 0.0;
        double g_W1_3_1 = 0.0;
        double g_W1_3_2 = 0.0;
        double g_b1_1 = 0.0;
        double g_b1_2 = 0.0;
        double g_b1_3 = 0.0;
        double g_w2_1 = 0.0;
        double g_w2_2 = 0.0;
        double g_w2_3 = 0.0;
        double g_b2 = 0.0;
        for (int s = 0; s < n; ++s) {
            const double x_1 = X[2 * s + 0];
            const double x_2 = X[2 * s + 1];
            const double y = targets[s];
            const double z1_1 = W1_1_1 * x_1 + W1_1_2 * x_2 + b1_1;
            const double z1_2 = W1_2_1 * x_1 + W1_2_2 * x_2 + b1_2;
            const double z1_3 = W1_3_1 * x_1 + W1_3_2 * x_2 + b1_3;
            const double h_1 = tanh(z1_1);
            const double h_2 = tanh(z1_2);
            const double h_3 = tanh(z1_3);
            const double z2 = w2_1 * h_1 + w2_2 * h_2 + w2_3 * h_3 + b2;
            const double y_hat = z2;
            total += pow(z2 - y, 2);
            const double delta2 = 2 * y_hat - 2 * y;
            const double delta1_1 = delta2 * w2_1 * (1 - pow(h_1, 2));
            const double delta1_2 = delta2 * w2_2 * (1 - pow(h_2, 2));
            const double delta1_3 = delta2 * w2_3 * (1 - pow(h_3, 2));
            g_W1_1_1 += delta1_1 * x_1;
            g_W1_1_2 += delta1_1 * x_2;
            g_W1_2_1 += delta1_2 * x_1;
            g_W1_2_2 += delta1_2 * x_2;
            g_W1_3_1 += delta1_3 * x_1;
            g_W1_3_2 += delta1_3 * x_2;
            g_b1_1 += delta1_1;
            g_b1_2 += delta1_2;
            g_b1_3 += delta1_3;
            g_w2_1 += delta2 * h_1;
            g_w2_2 += delta2 * h_2;
            g_w2_3 += delta2 * h_3;
            g_b2 += delta2;
        }
        losses[epoch] = total / n;
        W1_1_1 -= lr * (g_W1_1_1 / n);
        W1_1_2 -= lr * (g_W1_1_2 / n);
        W1_2_1 -= lr * (g_W1_2_1 / n);
        W1_2_2 -= lr * (g_W1_2_2 / n);
        W1_3_1 -= lr * (g_W1_3_1 / n);
        W1_3_2 -= lr * (g_W1_3_2 / n);
        b1_1 -= lr * (g_b1_1 / n);
        b1_2 -= lr * (g_b1_2 / n);
        b1_3 -= lr * (g_b1_3 / n);
        w2_1 -= lr * (g_w2_1 / n);
        w2_2 -= lr * (g_w2_2 / n);
        w2_3 -= lr * (g_w2_3 / n);
        b2 -= lr * (g_b2 / n);
    }
    params[0] = W1_1_1;
    params[1] = W1_1_2;
    params[2] = W1_2_1;
    params[3] = W1_2_2;
    params[4] = W1_3_1;
    params[5] = W1_3_2;
    params[6] = b1_1;
    params[7] = b1_2;
    params[8] = b1_3;
    params[9] = w2_1;
    params[10] = w2_2;
    params[11] = w2_3;
    params[12] = b2;
}

/* ---------------------------------------------------------------- the ensemble loop
 * K networks at once (train.py --inits K), the network axis innermost: parameter entry p
 * of network k is params[p * K + k], so one SIMD lane trains one network. Each lane runs
 * the expressions of train() above with exp, log and log1p replaced by the vectorisable
 * ones below (within 3 ulp), so network k agrees with a single run to rounding, not to
 * the bit. */
/* exp, log and log1p the compiler can vectorise across networks (libm's are calls it
 * cannot): only arithmetic, integer shifts on the bits, and selects. Measured against
 * 40-digit mpmath over their ranges (tests/test_simd_math.py): exp within 1.1 ulp, log
 * within 3, log1p within 2.5. */
static inline double vexp(double x)
{
    const double shift = 6755399441055744.0; /* 1.5 * 2^52: adding it rounds to an integer */
    double kd = x * 1.4426950408889634 + shift;
    double k = kd - shift;
    double r = x - k * 0.6931471803691238;    /* ln 2 in two parts: k * hi is exact */
    r = r - k * 1.9082149292705877e-10;
    /* exp(r) to r^13, |r| <= ln(2) / 2: 1 + r (1 + r (1/2 + r q(r))) in Horner's order
       (its roundings are the ones that matter), q's high powers by Estrin's scheme (pairs,
       then pairs of pairs), so 7 dependent steps instead of Horner's 13 */
    const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    const double a0 = 1.0 / 6.0 + r * (1.0 / 24.0), a1 = 1.0 / 120.0 + r * (1.0 / 720.0);
    const double a2 = 1.0 / 5040.0 + r * (1.0 / 40320.0);
    const double a3 = 1.0 / 362880.0 + r * (1.0 / 3628800.0);
    const double a4 = 1.0 / 39916800.0 + r * (1.0 / 479001600.0);
    const double a5 = 1.0 / 6227020800.0;
    const double q = (a0 + r2 * a1) + r4 * (a2 + r2 * a3) + r8 * (a4 + r2 * a5);
    const double p = 1.0 + r * (1.0 + r * (0.5 + r * q));
    uint64_t bits;                            /* 2^k, built in the exponent field */
    memcpy(&bits, &kd, sizeof bits);
    uint64_t scale_bits = (bits - 0x4338000000000000ULL + 1023ULL) << 52;
    double scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    double result = p * scale;
    result = x > 709.782712893384 ? HUGE_VAL : result;
    return x < -708.3964185322641 ? 0.0 : result;
}

static inline double vlog(double x)
{
    const double smallest = 2.2250738585072014e-308;  /* a subnormal x is scaled by 2^54 */
    double scaled = x < smallest ? x * 18014398509481984.0 : x;
    double bias = x < smallest ? 1077.0 : 1023.0;
    uint64_t bits;
    memcpy(&bits, &scaled, sizeof bits);
    uint64_t e_bits = (bits >> 52) | 0x4330000000000000ULL;  /* exponent, as 2^52 + e */
    double e_shifted;
    memcpy(&e_shifted, &e_bits, sizeof e_shifted);
    double ed = (e_shifted - 4503599627370496.0) - bias;
    uint64_t m_bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
    double m;                                 /* x = m 2^ed, m in [sqrt(1/2), sqrt(2)) */
    memcpy(&m, &m_bits, sizeof m);
    ed = m > 1.4142135623730951 ? ed + 1.0 : ed;
    m = m > 1.4142135623730951 ? m * 0.5 : m;
    double s = (m - 1.0) / (m + 1.0);         /* log m = 2 atanh(s), |s| < 0.172 */
    double s2 = s * s;
    double p = 1.0 / 23.0;
    p = p * s2 + 1.0 / 21.0;
    p = p * s2 + 1.0 / 19.0;
    p = p * s2 + 1.0 / 17.0;
    p = p * s2 + 1.0 / 15.0;
    p = p * s2 + 1.0 / 13.0;
    p = p * s2 + 1.0 / 11.0;
    p = p * s2 + 1.0 / 9.0;
    p = p * s2 + 1.0 / 7.0;
    p = p * s2 + 1.0 / 5.0;
    p = p * s2 + 1.0 / 3.0;
    p = p * s2 + 1.0;
    double result = ed * 0.6931471803691238 + (2.0 * s * p + ed * 1.9082149292705877e-10);
    result = x == HUGE_VAL ? HUGE_VAL : result;
    result = x == 0.0 ? -HUGE_VAL : result;
    result = x < 0.0 ? NAN : result;
    return x != x ? x : result;
}

/* fmax(a, b) for the (z, 0.0) the registry writes: NaN gives b, as fmax does. */
static inline double vmax(double a, double b)
{
    return a > b ? a : b;
}

static inline double vlog1p(double e)
{
    double u = 1.0 + e;
    double result = vlog(u) - ((u - 1.0) - e) / u;
    return u == HUGE_VAL ? HUGE_VAL : result;
}

/* The k-th smallest of a[0..n) (0-based), by quickselect within a[lo..n), all of whose
 * elements are at least those before lo; reorders a so that a[k] is in its place. */
static double select_kth(double *a, long lo, long n, long k)
{
    long hi = n - 1;
    while (hi > lo) {
        double pivot = a[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) ++i;
            while (a[j] > pivot) --j;
            if (i <= j) {
                double t = a[i]; a[i] = a[j]; a[j] = t;
                ++i; --j;
            }
        }
        if (k <= j) hi = j; else if (k >= i) lo = i; else return a[k];
    }
    return a[k];
}

/* np.quantile's linear interpolation of `values` at each of qs, NaNs ordered last as
 * np.partition orders them; scratch holds n doubles. */
static void quantiles(const double *values, long n, const double *qs, int nq,
                      double *scratch, double *out)
{
    long m = 0, placed = 0;  /* scratch[0..placed) holds the smallest, in place */
    for (long i = 0; i < n; ++i)
        if (values[i] == values[i]) scratch[m++] = values[i];
    for (int q = 0; q < nq; ++q) {  /* qs ascending: each search starts where the last ended */
        double position = qs[q] * (double)(n - 1);
        long low = (long)floor(position);
        long high = low + 1 < n - 1 ? low + 1 : n - 1;
        double a = NAN, b = NAN;
        if (low < m) {
            a = select_kth(scratch, placed, m, low);
            placed = low;
            b = a;
            if (high != low && high < m) {
                b = scratch[low + 1];  /* the smallest of what follows a */
                for (long i = low + 2; i < m; ++i)
                    b = scratch[i] < b ? scratch[i] : b;
            }
            else if (high != low)
                b = NAN;
        }
        out[q] = a + (b - a) * (position - (double)low);
    }
}

/* `epochs` steps of full-batch gradient descent of each of the K networks in params.
 * losses[e * K + k] receives network k's loss before update e, for the epochs that are
 * multiples of `every` and the last one (`last_epoch`), the only ones whose loss is
 * computed; first_solved[k] the first epoch (counted from first_epoch) at which network k
 * classified every sample right, if it is still -1; curves[e * nq + q] the qs[q] quantile
 * of the K losses before update e, on those same epochs.
 * Networks go in tiles of TILE, a sample at a time, the tile's networks innermost: a loop
 * the compiler vectorises (it does not vectorise an outer loop around the sample loop).
 * A tile runs all its epochs before the next tile starts: its parameters stay in cache and,
 * built with OpenMP, the cores take tiles as they come free and meet once per call, not
 * once per epoch (a core the machine is busy with takes fewer tiles instead of holding the
 * other up every epoch). Every network's arithmetic is the same whichever core runs it, so
 * the results are the same bits. */
enum { TILE = 256 };

void train_ensemble(double *params, int k_count, const double *X, const double *targets,
                    int n, double lr, int first_epoch, int epochs, const double *qs, int nq,
                    int every, int last_epoch, double *curves, double *losses,
                    int *first_solved, double *scratch)
{
    const long K = k_count;
#pragma omp parallel for schedule(dynamic, 1)
    for (long k0 = 0; k0 < K; k0 += TILE) {
        const long width = K - k0 < TILE ? K - k0 : TILE;
        for (int epoch = 0; epoch < epochs; ++epoch) {
            const int at = first_epoch + epoch;
            /* The loss (a log per sample) only where it is used: quantiles, the last epoch. */
            const int with_loss = at % every == 0 || at == last_epoch;
            double g_W1_1_1[TILE] = {0};
            double g_W1_1_2[TILE] = {0};
            double g_W1_2_1[TILE] = {0};
            double g_W1_2_2[TILE] = {0};
            double g_W1_3_1[TILE] = {0};
            double g_W1_3_2[TILE] = {0};
            double g_b1_1[TILE] = {0};
            double g_b1_2[TILE] = {0};
            double g_b1_3[TILE] = {0};
            double g_w2_1[TILE] = {0};
            double g_w2_2[TILE] = {0};
            double g_w2_3[TILE] = {0};
            double g_b2[TILE] = {0};
            double total[TILE] = {0};
            double right[TILE] = {0};  /* samples classified right, counted in doubles */
            for (int s = 0; s < n; ++s) {
                const double x_1 = X[2 * s + 0];
                const double x_2 = X[2 * s + 1];
                const double y = targets[s];
                const double target_class = y >= 0.5 ? 1.0 : 0.0;
                if (with_loss) {
#pragma omp simd
                    for (long j = 0; j < width; ++j) {
                        const double W1_1_1 = params[0 * K + k0 + j];
                        const double W1_1_2 = params[1 * K + k0 + j];
                        const double W1_2_1 = params[2 * K + k0 + j];
                        const double W1_2_2 = params[3 * K + k0 + j];
                        const double W1_3_1 = params[4 * K + k0 + j];
                        const double W1_3_2 = params[5 * K + k0 + j];
                        const double b1_1 = params[6 * K + k0 + j];
                        const double b1_2 = params[7 * K + k0 + j];
                        const double b1_3 = params[8 * K + k0 + j];
                        const double w2_1 = params[9 * K + k0 + j];
                        const double w2_2 = params[10 * K + k0 + j];
                        const double w2_3 = params[11 * K + k0 + j];
                        const double b2 = params[12 * K + k0 + j];
                        const double z1_1 = W1_1_1 * x_1 + W1_1_2 * x_2 + b1_1;
                        const double z1_2 = W1_2_1 * x_1 + W1_2_2 * x_2 + b1_2;
                        const double z1_3 = W1_3_1 * x_1 + W1_3_2 * x_2 + b1_3;
                        const double h_1 = tanh(z1_1);
                        const double h_2 = tanh(z1_2);
                        const double h_3 = tanh(z1_3);
                        const double z2 = w2_1 * h_1 + w2_2 * h_2 + w2_3 * h_3 + b2;
                        const double y_hat = z2;
                        total[j] += pow(z2 - y, 2);
                        const double predicted_class = y_hat >= 0.5 ? 1.0 : 0.0;
                        right[j] += 1.0 - fabs(predicted_class - target_class);
                        const double delta2 = 2 * y_hat - 2 * y;
                        const double delta1_1 = delta2 * w2_1 * (1 - pow(h_1, 2));
                        const double delta1_2 = delta2 * w2_2 * (1 - pow(h_2, 2));
                        const double delta1_3 = delta2 * w2_3 * (1 - pow(h_3, 2));
                        g_W1_1_1[j] += delta1_1 * x_1;
                        g_W1_1_2[j] += delta1_1 * x_2;
                        g_W1_2_1[j] += delta1_2 * x_1;
                        g_W1_2_2[j] += delta1_2 * x_2;
                        g_W1_3_1[j] += delta1_3 * x_1;
                        g_W1_3_2[j] += delta1_3 * x_2;
                        g_b1_1[j] += delta1_1;
                        g_b1_2[j] += delta1_2;
                        g_b1_3[j] += delta1_3;
                        g_w2_1[j] += delta2 * h_1;
                        g_w2_2[j] += delta2 * h_2;
                        g_w2_3[j] += delta2 * h_3;
                        g_b2[j] += delta2;
                    }
                } else {
#pragma omp simd
                    for (long j = 0; j < width; ++j) {
                        const double W1_1_1 = params[0 * K + k0 + j];
                        const double W1_1_2 = params[1 * K + k0 + j];
                        const double W1_2_1 = params[2 * K + k0 + j];
                        const double W1_2_2 = params[3 * K + k0 + j];
                        const double W1_3_1 = params[4 * K + k0 + j];
                        const double W1_3_2 = params[5 * K + k0 + j];
                        const double b1_1 = params[6 * K + k0 + j];
                        const double b1_2 = params[7 * K + k0 + j];
                        const double b1_3 = params[8 * K + k0 + j];
                        const double w2_1 = params[9 * K + k0 + j];
                        const double w2_2 = params[10 * K + k0 + j];
                        const double w2_3 = params[11 * K + k0 + j];
                        const double b2 = params[12 * K + k0 + j];
                        const double z1_1 = W1_1_1 * x_1 + W1_1_2 * x_2 + b1_1;
                        const double z1_2 = W1_2_1 * x_1 + W1_2_2 * x_2 + b1_2;
                        const double z1_3 = W1_3_1 * x_1 + W1_3_2 * x_2 + b1_3;
                        const double h_1 = tanh(z1_1);
                        const double h_2 = tanh(z1_2);
                        const double h_3 = tanh(z1_3);
                        const double z2 = w2_1 * h_1 + w2_2 * h_2 + w2_3 * h_3 + b2;
                        const double y_hat = z2;
                        const double predicted_class = y_hat >= 0.5 ? 1.0 : 0.0;
                        right[j] += 1.0 - fabs(predicted_class - target_class);
                        const double delta2 = 2 * y_hat - 2 * y;
                        const double delta1_1 = delta2 * w2_1 * (1 - pow(h_1, 2));
                        const double delta1_2 = delta2 * w2_2 * (1 - pow(h_2, 2));
                        const double delta1_3 = delta2 * w2_3 * (1 - pow(h_3, 2));
                        g_W1_1_1[j] += delta1_1 * x_1;
                        g_W1_1_2[j] += delta1_1 * x_2;
                        g_W1_2_1[j] += delta1_2 * x_1;
                        g_W1_2_2[j] += delta1_2 * x_2;
                        g_W1_3_1[j] += delta1_3 * x_1;
                        g_W1_3_2[j] += delta1_3 * x_2;
                        g_b1_1[j] += delta1_1;
                        g_b1_2[j] += delta1_2;
                        g_b1_3[j] += delta1_3;
                        g_w2_1[j] += delta2 * h_1;
                        g_w2_2[j] += delta2 * h_2;
                        g_w2_3[j] += delta2 * h_3;
                        g_b2[j] += delta2;
                    }
                }
            }
#pragma omp simd
            for (long j = 0; j < width; ++j) {
                const long k = k0 + j;
                losses[(long)epoch * K + k] = total[j] / n;
                first_solved[k] = (first_solved[k] < 0) & (right[j] == n) ? first_epoch + epoch
                                                                          : first_solved[k];
                params[0 * K + k] -= lr * (g_W1_1_1[j] / n);
                params[1 * K + k] -= lr * (g_W1_1_2[j] / n);
                params[2 * K + k] -= lr * (g_W1_2_1[j] / n);
                params[3 * K + k] -= lr * (g_W1_2_2[j] / n);
                params[4 * K + k] -= lr * (g_W1_3_1[j] / n);
                params[5 * K + k] -= lr * (g_W1_3_2[j] / n);
                params[6 * K + k] -= lr * (g_b1_1[j] / n);
                params[7 * K + k] -= lr * (g_b1_2[j] / n);
                params[8 * K + k] -= lr * (g_b1_3[j] / n);
                params[9 * K + k] -= lr * (g_w2_1[j] / n);
                params[10 * K + k] -= lr * (g_w2_2[j] / n);
                params[11 * K + k] -= lr * (g_w2_3[j] / n);
                params[12 * K + k] -= lr * (g_b2[j] / n);
            }
        }
    }
    for (int epoch = 0; epoch < epochs; ++epoch) {
        const int at = first_epoch + epoch;
        if (at % every == 0 || at == last_epoch)
            quantiles(losses + (long)epoch * K, K, qs, nq, scratch, curves + (long)epoch * nq);
    }
}
