/* GENERATED FILE - do not edit. Regenerate with `make derive SPEC=specs/xor_silu_gelu.toml`.
 *
 * A 2-2-2-1 network with silu then gelu hidden layers and binary cross-entropy on XOR.
 * The whole gradient-descent loop in C, printed by SymPy from the same derivation as
 * generated/xor_silu_gelu.py (derive/templates/train_loop.c.j2).
 * train.py --backend c compiles it with the system C compiler and loads it with ctypes,
 * only beside the module whose own hash (MODULE_SHA256) it names here:
 * module-sha256: fc840c2d0822d6137415974e021a08fbf2013545f7bb54ee357db6e6185ed2aa
 * source-sha256: 6781b9dc3ea68d3aeab19ec2a335c296f982fdf7b0abbfe89739e35cba40cbd9
 * (train.py compiles this file only while that hash of it holds: edit the spec, not this.)
 */
#include <math.h>

static inline double gelu(double z) { return 0.5 * z * erfc(-z * 0.7071067811865476); }

static inline double normal_cdf(double z) { return 0.5 * erfc(-z * 0.7071067811865476); }

static inline double normal_pdf(double z) { return exp(-0.5 * z * z) * 0.3989422804014327; }

static inline double sigmoid(double z) { return 1.0 / (1.0 + exp(-z)); }

static inline double softplus(double z) { return fmax(z, 0.0) + log1p(exp(-fabs(z))); }

/* Parameters, flat and in this order (C order within each array):
 *   W1 (2, 2): params[0..3]
 *   b1 (2,): params[4..5]
 *   W2 (2, 2): params[6..9]
 *   b2 (2,): params[10..11]
 *   w3 (2,): params[12..13]
 *   b3 (): params[14..14]
 */
int n_params(void) { return 15; }

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
    double W2_1_1 = params[6];
    double W2_1_2 = params[7];
    double W2_2_1 = params[8];
    double W2_2_2 = params[9];
    double b2_1 = params[10];
    double b2_2 = params[11];
    double w3_1 = params[12];
    double w3_2 = params[13];
    double b3 = params[14];
    for (int epoch = 0; epoch < epochs; ++epoch) {
        double total = 0.0;
        double g_W1_1_1 = 0.0;
        double g_W1_1_2 = 0.0;
        double g_W1_2_1 = 0.0;
        double g_W1_2_2 = 0.0;
        double g_b1_1 = 0.0;
        double g_b1_2 = 0.0;
        double g_W2_1_1 = 0.0;
        double g_W2_1_2 = 0.0;
        double g_W2_2_1 = 0.0;
        double g_W2_2_2 = 0.0;
        double g_b2_1 = 0.0;
        double g_b2_2 = 0.0;
        double g_w3_1 = 0.0;
        double g_w3_2 = 0.0;
        double g_b3 = 0.0;
        for (int s = 0; s < n; ++s) {
            const double x_1 = X[2 * s + 0];
            const double x_2 = X[2 * s + 1];
            const double y = targets[s];
            const double z1_1 = W1_1_1 * x_1 + W1_1_2 * x_2 + b1_1;
            const double z1_2 = W1_2_1 * x_1 + W1_2_2 * x_2 + b1_2;
            const double h1_1 = z1_1 * sigmoid(z1_1);
            const double h1_2 = z1_2 * sigmoid(z1_2);
            const double z2_1 = W2_1_1 * h1_1 + W2_1_2 * h1_2 + b2_1;
            const double z2_2 = W2_2_1 * h1_1 + W2_2_2 * h1_2 + b2_2;
            const double h2_1 = gelu(z2_1);
            const double h2_2 = gelu(z2_2);
            const double z3 = w3_1 * h2_1 + w3_2 * h2_2 + b3;
            const double e_z3 = exp(-z3);
            const double y_hat = (1.0 / (1.0 + e_z3));
            total += softplus(z3) - y * z3;
            const double delta3 = y_hat - y;
            const double delta2_1 = delta3 * w3_1 * (z2_1 * normal_pdf(z2_1) + normal_cdf(z2_1));
            const double delta2_2 = delta3 * w3_2 * (z2_2 * normal_pdf(z2_2) + normal_cdf(z2_2));
            const double delta1_1 = (W2_1_1 * delta2_1 + W2_2_1 * delta2_2) * sigmoid(z1_1) * (1 + z1_1 - z1_1 * sigmoid(z1_1));
            const double delta1_2 = (W2_1_2 * delta2_1 + W2_2_2 * delta2_2) * sigmoid(z1_2) * (1 + z1_2 - z1_2 * sigmoid(z1_2));
            g_W1_1_1 += delta1_1 * x_1;
            g_W1_1_2 += delta1_1 * x_2;
            g_W1_2_1 += delta1_2 * x_1;
            g_W1_2_2 += delta1_2 * x_2;
            g_b1_1 += delta1_1;
            g_b1_2 += delta1_2;
            g_W2_1_1 += delta2_1 * h1_1;
            g_W2_1_2 += delta2_1 * h1_2;
            g_W2_2_1 += delta2_2 * h1_1;
            g_W2_2_2 += delta2_2 * h1_2;
            g_b2_1 += delta2_1;
            g_b2_2 += delta2_2;
            g_w3_1 += delta3 * h2_1;
            g_w3_2 += delta3 * h2_2;
            g_b3 += delta3;
        }
        losses[epoch] = total / n;
        W1_1_1 -= lr * (g_W1_1_1 / n);
        W1_1_2 -= lr * (g_W1_1_2 / n);
        W1_2_1 -= lr * (g_W1_2_1 / n);
        W1_2_2 -= lr * (g_W1_2_2 / n);
        b1_1 -= lr * (g_b1_1 / n);
        b1_2 -= lr * (g_b1_2 / n);
        W2_1_1 -= lr * (g_W2_1_1 / n);
        W2_1_2 -= lr * (g_W2_1_2 / n);
        W2_2_1 -= lr * (g_W2_2_1 / n);
        W2_2_2 -= lr * (g_W2_2_2 / n);
        b2_1 -= lr * (g_b2_1 / n);
        b2_2 -= lr * (g_b2_2 / n);
        w3_1 -= lr * (g_w3_1 / n);
        w3_2 -= lr * (g_w3_2 / n);
        b3 -= lr * (g_b3 / n);
    }
    params[0] = W1_1_1;
    params[1] = W1_1_2;
    params[2] = W1_2_1;
    params[3] = W1_2_2;
    params[4] = b1_1;
    params[5] = b1_2;
    params[6] = W2_1_1;
    params[7] = W2_1_2;
    params[8] = W2_2_1;
    params[9] = W2_2_2;
    params[10] = b2_1;
    params[11] = b2_2;
    params[12] = w3_1;
    params[13] = w3_2;
    params[14] = b3;
}
