/* Python's repr of a double (the shortest decimal that reads back as the same double, the
   nearest such if several), fast: exact 128-bit integer arithmetic, no printf, no strtod.
   Used by trainer/history.py to write history.csv; values it does not cover return 0 (the
   caller uses repr for those). */
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef unsigned __int128 u128;

static u128 POW5[32];  /* 5^k, k = 0..31: filled on the first call */

static u128 pow5(int k) {
    if (POW5[0] == 0) {
        u128 p = 1;
        for (int i = 0; i < 32; i++, p *= 5) POW5[i] = p;
    }
    return POW5[k];
}

/* Does a decimal read back as v? `scaled` is the decimal and N is v, both times the same
   power of two (and of ten), `unit` the spacing of doubles at v in that scale.
   `narrow_below`: v is a power of two, so the double below is half as far. A tie goes to
   the even significand, as strtod rounds. */
static int reads_back(u128 scaled, u128 N, u128 unit, int narrow_below, int even) {
    if (scaled >= N) {
        u128 twice = (scaled - N) * 2;
        return twice < unit || (twice == unit && even);
    }
    u128 gap = N - scaled;
    u128 bound = narrow_below ? gap * 4 : gap * 2;
    return bound < unit || (bound == unit && even);
}

/* The n-digit decimals c x 10^-k just below and above v (v = m 2^e): the one that reads
   back (the nearer if both do) into *out, returning 1; 0 when neither does. */
static int candidate(uint64_t m, int e, int k, int narrow_below, u128 *out) {
    u128 N, unit, step;  /* v, the spacing of doubles and of the decimals, in one scale */
    int shift = -1;      /* step = 2^shift where it is a power of two */
    if (k >= 0) {        /* v 10^k 2^s: the decimals are the integers times 2^s */
        int s = -(e + k);
        N = (u128)m * pow5(k);
        unit = pow5(k);
        if (s <= 0) { N <<= -s; unit <<= -s; s = 0; }
        step = (u128)1 << s;
        shift = s;
    } else {             /* v 2^t: the decimals are multiples of 10^-k 2^t */
        int t = e < 0 ? -e : 0;
        N = (u128)m << (e + t);
        unit = (u128)1 << (e + t);
        step = pow5(-k) << (-k + t);
    }
    u128 low = shift >= 0 ? N >> shift : N / step;
    u128 rem = N - low * step;
    u128 high = rem ? low + 1 : low;
    int even = (m & 1) == 0;
    int low_ok = reads_back(low * step, N, unit, narrow_below, even);
    int high_ok = high != low && reads_back(high * step, N, unit, narrow_below, even);
    if (!low_ok && !high_ok) return 0;
    if (low_ok && high_ok)
        *out = (rem * 2 > step || (rem * 2 == step && (low & 1))) ? high : low;
    else
        *out = low_ok ? low : high;
    return 1;
}

/* repr(v) into out (at least 32 bytes); its length, or 0 where this does not apply
   (|v| >= 1e16 or below 1e-14 and not zero). */
int float_repr(double v, char *out) {
    char *p = out;
    if (isnan(v)) { memcpy(out, "nan", 3); return 3; }
    if (signbit(v)) { *p++ = '-'; v = -v; }
    if (isinf(v)) { memcpy(p, "inf", 3); return (int)(p - out) + 3; }
    if (v == 0.0) { memcpy(p, "0.0", 3); return (int)(p - out) + 3; }
    if (v >= 1e16 || v < 1e-14) return 0;
    uint64_t bits;
    memcpy(&bits, &v, 8);
    int exponent = (int)(bits >> 52);
    uint64_t m = bits & ((1ULL << 52) - 1);
    int narrow_below = m == 0 && exponent > 1;
    if (exponent) m |= 1ULL << 52; else exponent = 1;
    int e = exponent - 1075;
    /* d: 10^d <= v < 10^(d+1), from log10(2) (exponent - 1023), then set right */
    int d = ((exponent - 1023) * 78913) >> 18;
    const u128 p17 = 10000000000000000ULL;  /* 10^16 */
    for (;;) {
        int k = 16 - d, s = -(e + k);
        u128 N = (u128)m * pow5(k), q = s > 0 ? N >> s : N << -s;
        if (q < p17) d--; else if (q >= p17 * 10) d++; else break;
    }
    u128 best = 0, c;
    int n = 16;  /* most doubles need 16 or 17 digits; 17 always read back */
    if (!candidate(m, e, 15 - d, narrow_below, &best)) {
        n = 17;
        candidate(m, e, 16 - d, narrow_below, &best);
    }
    while (n > 1 && candidate(m, e, n - 2 - d, narrow_below, &c)) { best = c; n--; }
    static const char PAIRS[] =  /* "00" "01" ... "99" */
        "0001020304050607080910111213141516171819202122232425262728293031323334"
        "3536373839404142434445464748495051525354555657585960616263646566676869"
        "707172737475767778798081828384858687888990919293949596979899";
    /* best has n digits, or n + 1 where it rounded up to 10^n; it stands for
       best x 10^(d + 1 - n). Its digits, written from the last, two at a time: */
    uint64_t b = (uint64_t)best, ten_to_n = 1;
    for (int i = 0; i < n; i++) ten_to_n *= 10;
    int length = b >= ten_to_n ? n + 1 : n;
    char text[24];
    int i = length;
    while (b >= 100) {
        unsigned pair = (unsigned)(b % 100) * 2;
        b /= 100;
        text[--i] = PAIRS[pair + 1];
        text[--i] = PAIRS[pair];
    }
    if (b >= 10) {
        text[--i] = PAIRS[b * 2 + 1];
        text[--i] = PAIRS[b * 2];
    } else {
        text[--i] = (char)('0' + b);
    }
    int decpt = length - (n - 1 - d);
    int count = length;  /* without its trailing zeros (only a rounded-up 10^n has them) */
    while (count > 1 && text[count - 1] == '0') count--;
    if (decpt <= -4 || decpt > 16) {
        *p++ = text[0];
        if (count > 1) { *p++ = '.'; memcpy(p, text + 1, count - 1); p += count - 1; }
        int x = decpt - 1;
        *p++ = 'e';
        *p++ = x < 0 ? '-' : '+';
        if (x < 0) x = -x;
        if (x >= 100) *p++ = (char)('0' + x / 100);
        *p++ = (char)('0' + x / 10 % 10);
        *p++ = (char)('0' + x % 10);
    } else if (decpt <= 0) {
        *p++ = '0'; *p++ = '.';
        for (int i = 0; i < -decpt; i++) *p++ = '0';
        memcpy(p, text, count); p += count;
    } else if (decpt >= count) {
        memcpy(p, text, count); p += count;
        for (int i = count; i < decpt; i++) *p++ = '0';
        *p++ = '.'; *p++ = '0';
    } else {
        memcpy(p, text, decpt); p += decpt;
        *p++ = '.';
        memcpy(p, text + decpt, count - decpt); p += count - decpt;
    }
    return (int)(p - out);
}

/* "epoch,repr(loss)\n" for values[i], epochs first .. first + n - 1, into out (at least
   64 bytes per row). Returns the bytes written; stops before the first value float_repr
   does not cover, reporting its index in *stopped (n when none). */
long history_rows(const double *values, long n, long first, char *out, long *stopped) {
    char *p = out;
    for (long i = 0; i < n; i++) {
        char row[64], *r = row + 24;
        long epoch = first + i;
        char *start = r;
        do { *--start = (char)('0' + epoch % 10); epoch /= 10; } while (epoch);
        int width = float_repr(values[i], r + 1);
        if (width == 0) { *stopped = i; return (long)(p - out); }
        *r = ',';
        r[1 + width] = '\n';
        long size = (long)(r + 2 + width - start);
        memcpy(p, start, (size_t)size);
        p += size;
    }
    *stopped = n;
    return (long)(p - out);
}
