/* The practical floor: 2-2-1 XOR gradient descent written by hand in C, for `make bench`.
 * Same math as the generated loop (sigmoid hidden and output units, binary cross-entropy),
 * written once, plainly, without looking at the generated code. Parameters flat:
 * W1 (2x2, row-major), b1 (2), w2 (2), b2. */
#include <math.h>

void train(double *p, const double *X, const double *t, int n, double lr, int epochs,
           double *losses)
{
    double W[2][2] = {{p[0], p[1]}, {p[2], p[3]}}, b[2] = {p[4], p[5]};
    double w[2] = {p[6], p[7]}, c = p[8];
    for (int e = 0; e < epochs; ++e) {
        double gW[2][2] = {{0, 0}, {0, 0}}, gb[2] = {0, 0}, gw[2] = {0, 0}, gc = 0, loss = 0;
        for (int s = 0; s < n; ++s) {
            const double *x = X + 2 * s;
            double h[2];
            for (int i = 0; i < 2; ++i)
                h[i] = 1.0 / (1.0 + exp(-(W[i][0] * x[0] + W[i][1] * x[1] + b[i])));
            double z = w[0] * h[0] + w[1] * h[1] + c;
            double yh = 1.0 / (1.0 + exp(-z));
            loss += fmax(z, 0.0) + log1p(exp(-fabs(z))) - t[s] * z;
            double d = yh - t[s];
            gc += d;
            for (int i = 0; i < 2; ++i) {
                double di = d * w[i] * h[i] * (1.0 - h[i]);
                gw[i] += d * h[i];
                gb[i] += di;
                gW[i][0] += di * x[0];
                gW[i][1] += di * x[1];
            }
        }
        losses[e] = loss / n;
        for (int i = 0; i < 2; ++i) {
            W[i][0] -= lr * (gW[i][0] / n);
            W[i][1] -= lr * (gW[i][1] / n);
            b[i] -= lr * (gb[i] / n);
            w[i] -= lr * (gw[i] / n);
        }
        c -= lr * (gc / n);
    }
    p[0] = W[0][0]; p[1] = W[0][1]; p[2] = W[1][0]; p[3] = W[1][1];
    p[4] = b[0]; p[5] = b[1]; p[6] = w[0]; p[7] = w[1]; p[8] = c;
}
