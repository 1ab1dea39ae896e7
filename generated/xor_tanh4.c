/* GENERATED FILE - do not edit. Regenerate with `make derive SPEC=specs/xor_tanh4.toml`.
 *
 * A 2-4-1 network with tanh hidden units and binary cross-entropy on XOR.
 * The whole gradient-descent loop in C, printed by SymPy from the same derivation as
 * generated/xor_tanh4.py (derive/templates/train_loop.c.j2).
 * train.py --backend c compiles it with the system C compiler and loads it with ctypes,
 * only beside the module whose own hash (MODULE_SHA256) it names here:
 * module-sha256: cc2ac21c58e6b6122b7768e9249287bc1408ff9da90e678ee7733f181a067057
 * source-sha256: 935cbbecafbfa4a4bc7473c17507fb5e925f5cdf00a2924ca0d61ebc7eb89568
 * (train.py compiles this file only while that hash of it holds: edit the spec, not this.)
 */
#include <math.h>

static inline double softplus(double z) { return fmax(z, 0.0) + log1p(exp(-fabs(z))); }

/* Parameters, flat and in this order (C order within each array):
 *   W1 (4, 2): params[0..7]
 *   b1 (4,): params[8..11]
 *   w2 (4,): params[12..15]
 *   b2 (): params[16..16]
 */
int n_params(void) { return 17; }

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
    double W1_4_1 = params[6];
    double W1_4_2 = params[7];
    double b1_1 = params[8];
    double b1_2 = params[9];
    double b1_3 = params[10];
    double b1_4 = params[11];
    double w2_1 = params[12];
    double w2_2 = params[13];
    double w2_3 = params[14];
    double w2_4 = params[15];
    double b2 = params[16];
    for (int epoch = 0; epoch < epochs; ++epoch) {
        double total = 0.0;
        double g_W1_1_1 = 0.0;
        double g_W1_1_2 = 0.0;
        double g_W1_2_1 = 0.0;
        double g_W1_2_2 = 0.0;
        double g_W1_3_1 = 0.0;
        double g_W1_3_2 = 0.0;
        double g_W1_4_1 = 0.0;
        double g_W1_4_2 = 0.0;
        double g_b1_1 = 0.0;
        double g_b1_2 = 0.0;
        double g_b1_3 = 0.0;
        double g_b1_4 = 0.0;
        double g_w2_1 = 0.0;
        double g_w2_2 = 0.0;
        double g_w2_3 = 0.0;
        double g_w2_4 = 0.0;
        double g_b2 = 0.0;
        for (int s = 0; s < n; ++s) {
            const double x_1 = X[2 * s + 0];
            const double x_2 = X[2 * s + 1];
            const double y = targets[s];
            const double z1_1 = W1_1_1 * x_1 + W1_1_2 * x_2 + b1_1;
            const double z1_2 = W1_2_1 * x_1 + W1_2_2 * x_2 + b1_2;
            const double z1_3 = W1_3_1 * x_1 + W1_3_2 * x_2 + b1_3;
            const double z1_4 = W1_4_1 * x_1 + W1_4_2 * x_2 + b1_4;
            const double h_1 = tanh(z1_1);
            const double h_2 = tanh(z1_2);
            const double h_3 = tanh(z1_3);
            const double h_4 = tanh(z1_4);
            const double z2 = w2_1 * h_1 + w2_2 * h_2 + w2_3 * h_3 + w2_4 * h_4 + b2;
            const double e_z2 = exp(-z2);
            const double y_hat = (1.0 / (1.0 + e_z2));
            total += softplus(z2) - y * z2;
            const double delta2 = y_hat - y;
            const double delta1_1 = delta2 * w2_1 * (1 - pow(h_1, 2));
            const double delta1_2 = delta2 * w2_2 * (1 - pow(h_2, 2));
            const double delta1_3 = delta2 * w2_3 * (1 - pow(h_3, 2));
            const double delta1_4 = delta2 * w2_4 * (1 - pow(h_4, 2));
            g_W1_1_1 += delta1_1 * x_1;
            g_W1_1_2 += delta1_1 * x_2;
            g_W1_2_1 += delta1_2 * x_1;
            g_W1_2_2 += delta1_2 * x_2;
            g_W1_3_1 += delta1_3 * x_1;
            g_W1_3_2 += delta1_3 * x_2;
            g_W1_4_1 += delta1_4 * x_1;
            g_W1_4_2 += delta1_4 * x_2;
            g_b1_1 += delta1_1;
            g_b1_2 += delta1_2;
            g_b1_3 += delta1_3;
            g_b1_4 += delta1_4;
            g_w2_1 += delta2 * h_1;
            g_w2_2 += delta2 * h_2;
            g_w2_3 += delta2 * h_3;
            g_w2_4 += delta2 * h_4;
            g_b2 += delta2;
        }
        losses[epoch] = total / n;
        W1_1_1 -= lr * (g_W1_1_1 / n);
        W1_1_2 -= lr * (g_W1_1_2 / n);
        W1_2_1 -= lr * (g_W1_2_1 / n);
        W1_2_2 -= lr * (g_W1_2_2 / n);
        W1_3_1 -= lr * (g_W1_3_1 / n);
        W1_3_2 -= lr * (g_W1_3_2 / n);
        W1_4_1 -= lr * (g_W1_4_1 / n);
        W1_4_2 -= lr * (g_W1_4_2 / n);
        b1_1 -= lr * (g_b1_1 / n);
        b1_2 -= lr * (g_b1_2 / n);
        b1_3 -= lr * (g_b1_3 / n);
        b1_4 -= lr * (g_b1_4 / n);
        w2_1 -= lr * (g_w2_1 / n);
        w2_2 -= lr * (g_w2_2 / n);
        w2_3 -= lr * (g_w2_3 / n);
        w2_4 -= lr * (g_w2_4 / n);
        b2 -= lr * (g_b2 / n);
    }
    params[0] = W1_1_1;
    params[1] = W1_1_2;
    params[2] = W1_2_1;
    params[3] = W1_2_2;
    params[4] = W1_3_1;
    params[5] = W1_3_2;
    params[6] = W1_4_1;
    params[7] = W1_4_2;
    params[8] = b1_1;
    params[9] = b1_2;
    params[10] = b1_3;
    params[11] = b1_4;
    params[12] = w2_1;
    params[13] = w2_2;
    params[14] = w2_3;
    params[15] = w2_4;
    params[16] = b2;
}
