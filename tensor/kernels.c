/* kernels.c — the kernel variant set in force: NB_KERNELS, checked against the CPU (nb__kv.h). */
#define _DEFAULT_SOURCE /* syscall (asking Linux for the AMX tile state) */
#include "config.h"
#include "nb__kv.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool cpu_any(void) { return true; }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#endif
static bool cpu_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
static bool cpu_avx512(void) { return cpu_avx2() && __builtin_cpu_supports("avx512f"); }
/* CPUID leaf 7 (sub-leaf 0: EDX; sub-leaf 1: EAX) bit `bit`. */
static bool cpuid7(unsigned sub, int reg_edx, unsigned bit)
{
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) < 7)
        return false;
    __cpuid_count(7, sub, a, b, c, d);
    (void)b, (void)c;
    return ((reg_edx ? d : a) >> bit) & 1u;
}
/* CPUID.(7,1):EAX.AVX512_BF16, with AVX512BW (the compiler's AVX512_BF16 code may use BW's
 * 16-bit element instructions; every such CPU has it) */
static bool cpu_avx512bf16(void)
{
    return cpu_avx512() && __builtin_cpu_supports("avx512bw") && cpuid7(1, 0, 5);
}
/* AMX-BF16 (CPUID.(7,0):EDX bit 22) and AMX-TILE (bit 24), and Linux's leave to use the tile data
 * (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA; without it a tile instruction faults).
 * Asked once per process (a second ask is harmless); the answer is kept. */
static bool cpu_amx(void)
{
    static _Atomic int answer = -1;
    int a = atomic_load_explicit(&answer, memory_order_relaxed);
    if (a < 0) {
        a = cpu_avx512bf16() && cpuid7(0, 1, 22) && cpuid7(0, 1, 24);
#ifdef __linux__
        if (a)
            a = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
#else
        a = 0; /* no known way to ask for the tile state */
#endif
        atomic_store_explicit(&answer, a, memory_order_relaxed);
    }
    return a;
}
#else
static bool cpu_avx2(void) { return false; }
static bool cpu_avx512(void) { return false; }
static bool cpu_avx512bf16(void) { return false; }
static bool cpu_amx(void) { return false; }
#endif

/* One row per variant set, in nb__kv_set order: NB_KERNELS's name, the CPU test, what it needs. */
static const struct {
    const char *name;
    bool (*cpu_has)(void);
    const char *needs;
} k_sets[NB__KV_COUNT] = {
    [NB__KV_PORTABLE] = {"portable", cpu_any, "nothing"},
    [NB__KV_AVX2] = {"avx2", cpu_avx2, "AVX2 and FMA"},
    [NB__KV_AVX512] = {"avx512", cpu_avx512, "AVX-512F"},
    [NB__KV_AVX512BF16] = {"avx512bf16", cpu_avx512bf16, "AVX512_BF16 (with AVX512BW)"},
    [NB__KV_AMX] = {"amx", cpu_amx, "AMX-BF16 (with AMX-TILE, AVX512_BF16 and the kernel's leave to use tiles)"},
};

/* -1: not read yet; else the nb__kv_set in force. Atomic: the first use may race between
 * threads, which all compute the same value. */
static _Atomic int g_set = -1;
static _Atomic bool g_forced;

bool nb__kernels_cpu_has(nb__kv_set v) { return v >= 0 && v < NB__KV_COUNT && k_sets[v].cpu_has(); }

const char *nb__kernels_name(nb__kv_set v) { return v >= 0 && v < NB__KV_COUNT ? k_sets[v].name : "?"; }

/* "portable, avx2" : the sets this CPU can run. */
static void available(char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int v = 0; v < NB__KV_COUNT; v++)
        if (k_sets[v].cpu_has() && len < cap)
            len += (size_t)snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", k_sets[v].name);
}

static nb__kv_set read_env(void)
{
    const char *env = getenv("NB_KERNELS");
    char avail[128];
    if (env && *env) {
        available(avail, sizeof avail);
        for (int v = 0; v < NB__KV_COUNT; v++) {
            if (strcmp(env, k_sets[v].name) != 0)
                continue;
            if (!k_sets[v].cpu_has())
                nb__fail("NB_KERNELS=%s: this CPU lacks %s (it can run: %s)", env, k_sets[v].needs, avail);
            atomic_store_explicit(&g_forced, true, memory_order_relaxed);
            return (nb__kv_set)v;
        }
        nb__fail("NB_KERNELS=%s: unknown kernel set (this CPU can run: %s)", env, avail);
    }
    atomic_store_explicit(&g_forced, false, memory_order_relaxed);
    int best = NB__KV_PORTABLE;
    for (int v = 0; v < NB__KV_COUNT; v++)
        if (k_sets[v].cpu_has())
            best = v;
    return (nb__kv_set)best;
}

nb__kv_set nb__kernels(void)
{
    int v = atomic_load_explicit(&g_set, memory_order_relaxed);
    if (v < 0) {
        v = (int)read_env();
        atomic_store_explicit(&g_set, v, memory_order_relaxed);
    }
    return (nb__kv_set)v;
}

bool nb__kernels_forced(void)
{
    nb__kernels();
    return atomic_load_explicit(&g_forced, memory_order_relaxed);
}

bool nb__kv_avx2(void) { return nb__kernels() >= NB__KV_AVX2; }

void nb__kernels_reread_env(void) { atomic_store_explicit(&g_set, -1, memory_order_relaxed); }
