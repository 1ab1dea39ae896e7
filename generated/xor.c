/* GENERATED FILE - do not edit. Regenerate with `make derive SPEC=specs/xor.toml`.
 *
 * The assignment's 2-2-1 sigmoid network with binary cross-entropy on XOR.
 * The whole gradient-descent loop in C, printed by SymPy from the same derivation as
 * generated/xor.py (derive/templates/train_loop.c.j2).
 * train.py --backend c compiles it with the system C compiler and loads it with ctypes,
 * only beside the module whose own hash (MODULE_SHA256) it names here:
 * module-sha256: 5e6c4f2c3bbe4e2cfe2eb0bf2b6d242670ec61f11a8a96efa52f383360a7ef25
 * source-sha256: 9b186bd66e9f13801acc8f847776fd6ca69dbce83db8bb902bbfa07fc102b8a8
 * (train.py compiles this file only while that hash of it holds: edit the spec, not this.)
 */
#include <math.h>

static inline double softplus(double z) { return fmax(z, 0.0) + log1p(exp(-fabs(z))); }

/* Parameters, flat and in this order (C order within each array):
 *   W1 (2, 2): params[0..3]
 *   b1 (2,): params[4..5]
 *   w2 (2,): params[6..7]
 *   b2 (): params[8..8]
 */
int n_params(void) { return 9; }

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
    double b1_1 = params[4];
    double b1_2 = params[5];
    double w2_1 = params[6];
    double w2_2 = params[7];
    double b2 = params[8];
    for (int epoch = 0; epoch < epochs; ++epoch) {
        double total = 0.0;
        double g_W1_1_1 = 0.0;
        double g_W1_1_2 = 0.0;
        double g_W1_2_1 = 0.0;
        double g_W1_2_2 = 0.0;
        double g_b1_1 = 0.0;
        double g_b1_2 = 0.0;
        double g_w2_1 = 0.0;
        double g_w2_2 = 0.0;
        double g_b2 = 0.0;
        for (int s = 0; s < n; ++s) {
            const double x_1 = X[2 * s + 0];
            const double x_2 = X[2 * s + 1];
            const double y = targets[s];
            const double z1_1 = W1_1_1 * x_1 + W1_1_2 * x_2 + b1_1;
            const double z1_2 = W1_2_1 * x_1 + W1_2_2 * x_2 + b1_2;
            const double e_z1_1 = exp(-z1_1);
            const double h_1 = (1.0 / (1.0 + e_z1_1));
            const double e_z1_2 = exp(-z1_2);
            const double h_2 = (1.0 / (1.0 + e_z1_2));
            const double z2 = w2_1 * h_1 + w2_2 * h_2 + b2;
            const double e_z2 = exp(-z2);
            const double y_hat = (1.0 / (1.0 + e_z2));
            total += softplus(z2) - y * z2;
            const double delta2 = y_hat - y;
            const double delta1_1 = delta2 * w2_1 * h_1 * (1 - h_1);
            const double delta1_2 = delta2 * w2_2 * h_2 * (1 - h_2);
            g_W1_1_1 += delta1_1 * x_1;
            g_W1_1_2 += delta1_1 * x_2;
            g_W1_2_1 += delta1_2 * x_1;
            g_W1_2_2 += delta1_2 * x_2;
            g_b1_1 += delta1_1;
            g_b1_2 += delta1_2;
            g_w2_1 += delta2 * h_1;
            g_w2_2 += delta2 * h_2;
            g_b2 += delta2;
        }
        losses[epoch] = total / n;
        W1_1_1 -= lr * (g_W1_1_1 / n);
        W1_1_2 -= lr * (g_W1_1_2 / n);
        W1_2_1 -= lr * (g_W1_2_1 / n);
        W1_2_2 -= lr * (g_W1_2_2 / n);
        b1_1 -= lr * (g_b1_1 / n);
        b1_2 -= lr * (g_b1_2 / n);
        w2_1 -= lr * (g_w2_1 / n);
        w2_2 -= lr * (g_w2_2 / n);
        b2 -= lr * (g_b2 / n);
    }
    params[0] = W1_1_1;
    params[1] = W1_1_2;
    params[2] = W1_2_1;
    params[3] = W1_2_2;
    params[4] = b1_1;
    params[5] = b1_2;
    params[6] = w2_1;
    params[7] = w2_2;
    params[8] = b2;
}
