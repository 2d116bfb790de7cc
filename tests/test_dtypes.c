/* test_dtypes.c — the storage-only dtypes bfloat16 and float16 (tensor/half.c): conversion bit
 * patterns against PyTorch 1.13 and exact rounding (tests/ref_dtypes.py), exhaustive round trips
 * and tie sets, creation, copies, views, element access, printing, safetensors BF16/F16 (with a
 * PyTorch reader and writer), nb_module_to_dtype, and the misuse error of every compute op. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NV(a) ((int)(sizeof(a) / sizeof(a)[0]))

/* BEGIN ref_dtypes.py output (regenerate: /usr/bin/python3 tests/ref_dtypes.py) */
static const double K_VALUES[] = {
    0.0, -0.0, 0x1.0000000000000p+0, -0x1.0000000000000p+0,
    INFINITY, -INFINITY, NAN, 0x1.0000000000000p-1,
    0x1.0000000000000p-1, 0x1.0100000000000p+0, -0x1.0100000000000p+0, 0x1.0108000000000p+0,
    0x1.00f8000000000p+0, 0x1.00fffffffffffp+0, 0x1.0100000000001p+0, 0x1.0300000000000p+0,
    -0x1.0300000000000p+0, 0x1.0308000000000p+0, 0x1.02f8000000000p+0, 0x1.02fffffffffffp+0,
    0x1.0300000000001p+0, 0x1.0500000000000p+0, -0x1.0500000000000p+0, 0x1.0508000000000p+0,
    0x1.04f8000000000p+0, 0x1.04fffffffffffp+0, 0x1.0500000000001p+0, 0x1.ff00000000000p+0,
    -0x1.ff00000000000p+0, 0x1.ff08000000000p+0, 0x1.fef8000000000p+0, 0x1.fefffffffffffp+0,
    0x1.ff00000000001p+0, 0x1.0100000000000p+10, -0x1.0100000000000p+10, 0x1.0108000000000p+10,
    0x1.00f8000000000p+10, 0x1.00fffffffffffp+10, 0x1.0100000000001p+10, 0x1.0300000000000p+10,
    -0x1.0300000000000p+10, 0x1.0308000000000p+10, 0x1.02f8000000000p+10, 0x1.02fffffffffffp+10,
    0x1.0300000000001p+10, 0x1.0500000000000p+10, -0x1.0500000000000p+10, 0x1.0508000000000p+10,
    0x1.04f8000000000p+10, 0x1.04fffffffffffp+10, 0x1.0500000000001p+10, 0x1.ff00000000000p+10,
    -0x1.ff00000000000p+10, 0x1.ff08000000000p+10, 0x1.fef8000000000p+10, 0x1.fefffffffffffp+10,
    0x1.ff00000000001p+10, 0x1.0100000000000p-10, -0x1.0100000000000p-10, 0x1.0108000000000p-10,
    0x1.00f8000000000p-10, 0x1.00fffffffffffp-10, 0x1.0100000000001p-10, 0x1.0300000000000p-10,
    -0x1.0300000000000p-10, 0x1.0308000000000p-10, 0x1.02f8000000000p-10, 0x1.02fffffffffffp-10,
    0x1.0300000000001p-10, 0x1.0500000000000p-10, -0x1.0500000000000p-10, 0x1.0508000000000p-10,
    0x1.04f8000000000p-10, 0x1.04fffffffffffp-10, 0x1.0500000000001p-10, 0x1.ff00000000000p-10,
    -0x1.ff00000000000p-10, 0x1.ff08000000000p-10, 0x1.fef8000000000p-10, 0x1.fefffffffffffp-10,
    0x1.ff00000000001p-10, 0x1.8300000000000p+1, -0x1.8300000000000p+1, 0x1.830c000000000p+1,
    0x1.82f4000000000p+1, 0x1.82fffffffffffp+1, 0x1.8300000000001p+1, 0x1.8900000000000p+1,
    -0x1.8900000000000p+1, 0x1.890c000000000p+1, 0x1.88f4000000000p+1, 0x1.88fffffffffffp+1,
    0x1.8900000000001p+1, 0x1.8f00000000000p+1, -0x1.8f00000000000p+1, 0x1.8f0c000000000p+1,
    0x1.8ef4000000000p+1, 0x1.8efffffffffffp+1, 0x1.8f00000000001p+1, 0x1.1f40000000000p+3,
    -0x1.1f40000000000p+3, 0x1.1f43000000000p+3, 0x1.1f3d000000000p+3, 0x1.1f3ffffffffffp+3,
    0x1.1f40000000001p+3, 0x1.0020000000000p+0, -0x1.0020000000000p+0, 0x1.0021000000000p+0,
    0x1.001f000000000p+0, 0x1.001ffffffffffp+0, 0x1.0020000000001p+0, 0x1.0060000000000p+0,
    -0x1.0060000000000p+0, 0x1.0061000000000p+0, 0x1.005f000000000p+0, 0x1.005ffffffffffp+0,
    0x1.0060000000001p+0, 0x1.00a0000000000p+0, -0x1.00a0000000000p+0, 0x1.00a1000000000p+0,
    0x1.009f000000000p+0, 0x1.009ffffffffffp+0, 0x1.00a0000000001p+0, 0x1.1fe0000000000p+0,
    -0x1.1fe0000000000p+0, 0x1.1fe1000000000p+0, 0x1.1fdf000000000p+0, 0x1.1fdffffffffffp+0,
    0x1.1fe0000000001p+0, 0x1.0020000000000p+10, -0x1.0020000000000p+10, 0x1.0021000000000p+10,
    0x1.001f000000000p+10, 0x1.001ffffffffffp+10, 0x1.0020000000001p+10, 0x1.0060000000000p+10,
    -0x1.0060000000000p+10, 0x1.0061000000000p+10, 0x1.005f000000000p+10, 0x1.005ffffffffffp+10,
    0x1.0060000000001p+10, 0x1.00a0000000000p+10, -0x1.00a0000000000p+10, 0x1.00a1000000000p+10,
    0x1.009f000000000p+10, 0x1.009ffffffffffp+10, 0x1.00a0000000001p+10, 0x1.1fe0000000000p+10,
    -0x1.1fe0000000000p+10, 0x1.1fe1000000000p+10, 0x1.1fdf000000000p+10, 0x1.1fdffffffffffp+10,
    0x1.1fe0000000001p+10, 0x1.0020000000000p-10, -0x1.0020000000000p-10, 0x1.0021000000000p-10,
    0x1.001f000000000p-10, 0x1.001ffffffffffp-10, 0x1.0020000000001p-10, 0x1.0060000000000p-10,
    -0x1.0060000000000p-10, 0x1.0061000000000p-10, 0x1.005f000000000p-10, 0x1.005ffffffffffp-10,
    0x1.0060000000001p-10, 0x1.00a0000000000p-10, -0x1.00a0000000000p-10, 0x1.00a1000000000p-10,
    0x1.009f000000000p-10, 0x1.009ffffffffffp-10, 0x1.00a0000000001p-10, 0x1.1fe0000000000p-10,
    -0x1.1fe0000000000p-10, 0x1.1fe1000000000p-10, 0x1.1fdf000000000p-10, 0x1.1fdffffffffffp-10,
    0x1.1fe0000000001p-10, 0x1.8060000000000p+1, -0x1.8060000000000p+1, 0x1.8061800000000p+1,
    0x1.805e800000000p+1, 0x1.805ffffffffffp+1, 0x1.8060000000001p+1, 0x1.8120000000000p+1,
    -0x1.8120000000000p+1, 0x1.8121800000000p+1, 0x1.811e800000000p+1, 0x1.811ffffffffffp+1,
    0x1.8120000000001p+1, 0x1.81e0000000000p+1, -0x1.81e0000000000p+1, 0x1.81e1800000000p+1,
    0x1.81de800000000p+1, 0x1.81dffffffffffp+1, 0x1.81e0000000001p+1, 0x1.dfa0000000000p+1,
    -0x1.dfa0000000000p+1, 0x1.dfa1800000000p+1, 0x1.df9e800000000p+1, 0x1.df9ffffffffffp+1,
    0x1.dfa0000000001p+1, 0x1.fe00000000000p+127, -0x1.fe00000000000p+127, 0x1.ff00000000000p+127,
    -0x1.ff00000000000p+127, 0x1.fefffffffffffp+127, 0x1.ff00000000001p+127, 0x1.0000000000000p+128,
    0x1.ffc0000000000p+15, -0x1.ffc0000000000p+15, 0x1.ffe0000000000p+15, -0x1.ffe0000000000p+15,
    0x1.ffdffffffffffp+15, 0x1.ffe0000000001p+15, 0x1.0000000000000p+16, 0x1.0000000000000p-133,
    -0x1.0000000000000p-133, 0x1.0000000000000p-134, -0x1.0000000000000p-134, 0x1.8000000000000p-133,
    0x1.4000000000000p-132, 0x1.8000000000000p-134, 0x1.00068db8bac71p-134, 0x1.fe00000000000p-127,
    0x1.fc00000000000p-127, 0x1.0000000000000p-126, 0x1.fffffffffffffp-127, 0x1.0000000000000p-24,
    -0x1.0000000000000p-24, 0x1.0000000000000p-25, -0x1.0000000000000p-25, 0x1.8000000000000p-24,
    0x1.4000000000000p-23, 0x1.8000000000000p-25, 0x1.00068db8bac71p-25, 0x1.ffc0000000000p-15,
    0x1.ff80000000000p-15, 0x1.0000000000000p-14, 0x1.fffffffffffffp-15, 0x1.16c262777579cp-133,
    -0x1.16c262777579cp-133, 0x1.0000000000000p-149, 0x1.6d601ad376ab9p-150, 0x1.ffc0000000000p+15,
    0x1.ffde000000000p+15, 0x1.ffe0000000000p+15, 0x1.86a0000000000p+16, 0x1.fe00000000000p+127,
    0x1.78287f49c4a1dp+129, 0x1.0100000400000p+0, 0x1.0020000001000p+0, -0x1.0100000000080p+0,
    0x1.02ffffffe0000p+0, 0x1.999999999999ap-4, 0x1.5555555555555p-2, 0x1.921fb54442d18p+1,
    0x1.5bf0a8b145769p+1, 0x1.ca6bec0135580p-17, -0x1.daf35746366a0p+10, 0x1.1651d7712bbe4p-12,
    -0x1.4533b3b59a2c0p+17, -0x1.4958f31e225d8p-39, -0x1.4f65f8e56cb86p-34, 0x1.73bd0a38bbedap-10,
    0x1.62d34ba6de832p+6, -0x1.bf8a1d80d1028p+4, -0x1.7ac28a31c4bc0p+16, 0x1.63fde23ca0410p+18,
    0x1.bff9a7eb77914p+13, 0x1.27a2bdd84d800p-36, -0x1.e1c53b278c758p+5, 0x1.dc429c06df128p-25,
    -0x1.7b30f69366f36p+33, 0x1.83052b0cf0dd0p+26, -0x1.7f180237ddbd0p+34, 0x1.d0d9e7402ea88p-24,
    0x1.a279bf3a8595ap-28, 0x1.21af6393f69f0p-18, 0x1.f889624ff7d80p+10, 0x1.69fb66552bc00p-33,
    0x1.b64ff5c1a1848p+16, -0x1.4d688ee6e7fcap-8, 0x1.93f518baa0da0p+22, 0x1.d4e563c38fdecp-9,
    0x1.27f243dc31010p+14, 0x1.01ef96fdaa28ep-9, 0x1.5c3415cfbd5f8p-14, 0x1.69e2bee6620b4p-7,
    0x1.97bbc1b72a078p+1, 0x1.da72605ebcc82p+32, 0x1.8b0e7a937892cp+21, -0x1.b4e643ba98d5ep-34,
    0x1.4e5945363ac34p-42, -0x1.6a23a6d0c5588p-14, -0x1.2e5593d75b604p-7, 0x1.e8a2bf781541ap+37,
    0x1.7c2874f25107ap+16, -0x1.79d6b9ece0224p+6, 0x1.bcb73a188339cp+13, -0x1.e3b4746658624p+2,
    0x1.b7ef028d23824p-10, -0x1.fdd6201f98cf8p-15, 0x1.a8b2ae1fe6900p+26, 0x1.08796f0fd68d0p+5,
    0x1.08203528a1116p+21, 0x1.50fc8a77c5ee2p+35, 0x1.3c60eebff4d84p+23, -0x1.19fe7a1e988c8p-35,
    -0x1.d815518666c30p-26, -0x1.7c9bb1d9b2ab4p+12, -0x1.ef444006f2e80p+5, -0x1.530b892a011c0p-33,
    -0x1.7a331a386e05ep-34, -0x1.c73a8bc76e660p-41, 0x1.01e7c377959aap-30, -0x1.7339689f9dd7ap+25,
    -0x1.0e58e77225834p-7, 0x1.89fe55488d0c0p+13, 0x1.cea91825d3bdap+11, 0x1.b6b4c50252630p-2,
    -0x1.d1d4b2e685150p-9, -0x1.d88ecf4185e80p-43, -0x1.a8e68ddbede28p-36, 0x1.dcdf22e070898p-16,
    0x1.ebdae5bdd5cdcp+15, 0x1.47219c1fcbed0p-31, 0x1.657412dc432fcp-7, 0x1.d040956b88e96p-32,
    0x1.62bfc0ecd5700p-13, 0x1.083dc8b1eacd0p-15, -0x1.8c9396fbf3390p-27, 0x1.79e4c6b412b10p+3,
    -0x1.67274eb77ea14p+21, -0x1.3433587ba12c8p-17, -0x1.dbb7c90458662p+10, -0x1.7f3bb39ea2a00p+10,
    0x1.acfb41dff9f60p+6, -0x1.fbec9dcb0e4aap+14, -0x1.4d5a860b19b7ap-27, -0x1.26fb2c056b414p+0,
    0x1.9d426cc96a5b6p+16, -0x1.e7e63729024b4p+36, -0x1.d29ad067d5d90p-27, 0x1.55feb5528e3a0p-36,
    -0x1.ce9222442de02p-2, -0x1.c5d8b0383bb58p+14, -0x1.4c977f10d5578p-35, 0x1.93b9de625c048p-22,
    0x1.73b8fd132e74ep+31, -0x1.294d764020498p-32, -0x1.edfa5dd1bbedcp+33, -0x1.b3f0abb03b498p-11,
    -0x1.f2ab0186f30e0p+26, 0x1.de5c7874d0950p-21, 0x1.7bb4b3403b0f4p+34, -0x1.a7fd6ba9cc170p+5,
    0x1.cdff3c809330cp-3, -0x1.c76b157ba3570p-34, -0x1.9d323c5f3e440p-37, -0x1.9cf6ecefba52cp-25,
    0x1.0e69d52511824p+26, 0x1.8dc2651957038p+16, 0x1.78e8808f8ad86p+14, -0x1.9903862012326p+3,
    -0x1.d7c3ac251ee9cp+29, -0x1.268d3a03c4240p-1, -0x1.8d85daedc9db0p-40, 0x1.ce781a5e63190p-4,
    0x1.5ab5c92fa40bap+8, 0x1.2bced2de7267ep+12, -0x1.ec9023a9ad9f2p+35, -0x1.55effcc6e0d8cp-9,
    0x1.49ae5a40c9800p-14, -0x1.acf56a98ee9f8p-12, -0x1.16f623c0f922ap-37, 0x1.bbbb2247ae5a2p+34,
    0x1.0f1ee4445ba40p-9,
};
static const uint16_t K_BF16_FROM_F32[] = {
    0x0000, 0x8000, 0x3f80, 0xbf80, 0x7f80, 0xff80, 0xffff, 0x3f00,
    0x3f00, 0x3f80, 0xbf80, 0x3f81, 0x3f80, 0x3f80, 0x3f80, 0x3f82,
    0xbf82, 0x3f82, 0x3f81, 0x3f82, 0x3f82, 0x3f82, 0xbf82, 0x3f83,
    0x3f82, 0x3f82, 0x3f82, 0x4000, 0xc000, 0x4000, 0x3fff, 0x4000,
    0x4000, 0x4480, 0xc480, 0x4481, 0x4480, 0x4480, 0x4480, 0x4482,
    0xc482, 0x4482, 0x4481, 0x4482, 0x4482, 0x4482, 0xc482, 0x4483,
    0x4482, 0x4482, 0x4482, 0x4500, 0xc500, 0x4500, 0x44ff, 0x4500,
    0x4500, 0x3a80, 0xba80, 0x3a81, 0x3a80, 0x3a80, 0x3a80, 0x3a82,
    0xba82, 0x3a82, 0x3a81, 0x3a82, 0x3a82, 0x3a82, 0xba82, 0x3a83,
    0x3a82, 0x3a82, 0x3a82, 0x3b00, 0xbb00, 0x3b00, 0x3aff, 0x3b00,
    0x3b00, 0x4042, 0xc042, 0x4042, 0x4041, 0x4042, 0x4042, 0x4044,
    0xc044, 0x4045, 0x4044, 0x4044, 0x4044, 0x4048, 0xc048, 0x4048,
    0x4047, 0x4048, 0x4048, 0x4110, 0xc110, 0x4110, 0x4110, 0x4110,
    0x4110, 0x3f80, 0xbf80, 0x3f80, 0x3f80, 0x3f80, 0x3f80, 0x3f80,
    0xbf80, 0x3f80, 0x3f80, 0x3f80, 0x3f80, 0x3f80, 0xbf80, 0x3f80,
    0x3f80, 0x3f80, 0x3f80, 0x3f90, 0xbf90, 0x3f90, 0x3f90, 0x3f90,
    0x3f90, 0x4480, 0xc480, 0x4480, 0x4480, 0x4480, 0x4480, 0x4480,
    0xc480, 0x4480, 0x4480, 0x4480, 0x4480, 0x4480, 0xc480, 0x4480,
    0x4480, 0x4480, 0x4480, 0x4490, 0xc490, 0x4490, 0x4490, 0x4490,
    0x4490, 0x3a80, 0xba80, 0x3a80, 0x3a80, 0x3a80, 0x3a80, 0x3a80,
    0xba80, 0x3a80, 0x3a80, 0x3a80, 0x3a80, 0x3a80, 0xba80, 0x3a80,
    0x3a80, 0x3a80, 0x3a80, 0x3a90, 0xba90, 0x3a90, 0x3a90, 0x3a90,
    0x3a90, 0x4040, 0xc040, 0x4040, 0x4040, 0x4040, 0x4040, 0x4041,
    0xc041, 0x4041, 0x4041, 0x4041, 0x4041, 0x4041, 0xc041, 0x4041,
    0x4041, 0x4041, 0x4041, 0x4070, 0xc070, 0x4070, 0x4070, 0x4070,
    0x4070, 0x7f7f, 0xff7f, 0x7f80, 0xff80, 0x7f80, 0x7f80, 0x7f80,
    0x4780, 0xc780, 0x4780, 0xc780, 0x4780, 0x4780, 0x4780, 0x0001,
    0x8001, 0x0000, 0x8000, 0x0002, 0x0002, 0x0001, 0x0001, 0x0080,
    0x007f, 0x0080, 0x0080, 0x3380, 0xb380, 0x3300, 0xb300, 0x33c0,
    0x3420, 0x3340, 0x3300, 0x3880, 0x3880, 0x3880, 0x3880, 0x0001,
    0x8001, 0x0000, 0x0000, 0x4780, 0x4780, 0x4780, 0x47c3, 0x7f7f,
    0x7f80, 0x3f80, 0x3f80, 0xbf80, 0x3f82, 0x3dcd, 0x3eab, 0x4049,
    0x402e, 0x3765, 0xc4ed, 0x398b, 0xc823, 0xac25, 0xaea8, 0x3aba,
    0x42b1, 0xc1e0, 0xc7bd, 0x48b2, 0x4660, 0x2d94, 0xc271, 0x336e,
    0xd03e, 0x4cc2, 0xd0c0, 0x33e8, 0x31d1, 0x3691, 0x44fc, 0x2f35,
    0x47db, 0xbba7, 0x4aca, 0x3b6a, 0x4694, 0x3b01, 0x38ae, 0x3c35,
    0x404c, 0x4fed, 0x4a46, 0xaeda, 0x2aa7, 0xb8b5, 0xbc17, 0x5274,
    0x47be, 0xc2bd, 0x465e, 0xc0f2, 0x3adc, 0xb87f, 0x4cd4, 0x4204,
    0x4a04, 0x5128, 0x4b1e, 0xae0d, 0xb2ec, 0xc5be, 0xc278, 0xaf2a,
    0xaebd, 0xab64, 0x3081, 0xcc3a, 0xbc07, 0x4645, 0x4567, 0x3edb,
    0xbb69, 0xaa6c, 0xadd4, 0x37ee, 0x4776, 0x3024, 0x3c33, 0x2fe8,
    0x3931, 0x3804, 0xb246, 0x413d, 0xca34, 0xb71a, 0xc4ee, 0xc4c0,
    0x42d6, 0xc6fe, 0xb227, 0xbf93, 0x47cf, 0xd1f4, 0xb269, 0x2dab,
    0xbee7, 0xc6e3, 0xae26, 0x34ca, 0x4f3a, 0xaf95, 0xd077, 0xba5a,
    0xccf9, 0x356f, 0x50be, 0xc254, 0x3e67, 0xaee4, 0xad4f, 0xb34e,
    0x4c87, 0x47c7, 0x46bc, 0xc14d, 0xce6c, 0xbf13, 0xabc7, 0x3de7,
    0x43ad, 0x4596, 0xd176, 0xbb2b, 0x38a5, 0xb9d6, 0xad0b, 0x50de,
    0x3b08,
};
static const uint16_t K_BF16_FROM_F64[] = {
    0x0000, 0x8000, 0x3f80, 0xbf80, 0x7f80, 0xff80, 0xffff, 0x3f00,
    0x3f00, 0x3f80, 0xbf80, 0x3f81, 0x3f80, 0x3f80, 0x3f81, 0x3f82,
    0xbf82, 0x3f82, 0x3f81, 0x3f81, 0x3f82, 0x3f82, 0xbf82, 0x3f83,
    0x3f82, 0x3f82, 0x3f83, 0x4000, 0xc000, 0x4000, 0x3fff, 0x3fff,
    0x4000, 0x4480, 0xc480, 0x4481, 0x4480, 0x4480, 0x4481, 0x4482,
    0xc482, 0x4482, 0x4481, 0x4481, 0x4482, 0x4482, 0xc482, 0x4483,
    0x4482, 0x4482, 0x4483, 0x4500, 0xc500, 0x4500, 0x44ff, 0x44ff,
    0x4500, 0x3a80, 0xba80, 0x3a81, 0x3a80, 0x3a80, 0x3a81, 0x3a82,
    0xba82, 0x3a82, 0x3a81, 0x3a81, 0x3a82, 0x3a82, 0xba82, 0x3a83,
    0x3a82, 0x3a82, 0x3a83, 0x3b00, 0xbb00, 0x3b00, 0x3aff, 0x3aff,
    0x3b00, 0x4042, 0xc042, 0x4042, 0x4041, 0x4041, 0x4042, 0x4044,
    0xc044, 0x4045, 0x4044, 0x4044, 0x4045, 0x4048, 0xc048, 0x4048,
    0x4047, 0x4047, 0x4048, 0x4110, 0xc110, 0x4110, 0x4110, 0x4110,
    0x4110, 0x3f80, 0xbf80, 0x3f80, 0x3f80, 0x3f80, 0x3f80, 0x3f80,
    0xbf80, 0x3f80, 0x3f80, 0x3f80, 0x3f80, 0x3f80, 0xbf80, 0x3f80,
    0x3f80, 0x3f80, 0x3f80, 0x3f90, 0xbf90, 0x3f90, 0x3f90, 0x3f90,
    0x3f90, 0x4480, 0xc480, 0x4480, 0x4480, 0x4480, 0x4480, 0x4480,
    0xc480, 0x4480, 0x4480, 0x4480, 0x4480, 0x4480, 0xc480, 0x4480,
    0x4480, 0x4480, 0x4480, 0x4490, 0xc490, 0x4490, 0x4490, 0x4490,
    0x4490, 0x3a80, 0xba80, 0x3a80, 0x3a80, 0x3a80, 0x3a80, 0x3a80,
    0xba80, 0x3a80, 0x3a80, 0x3a80, 0x3a80, 0x3a80, 0xba80, 0x3a80,
    0x3a80, 0x3a80, 0x3a80, 0x3a90, 0xba90, 0x3a90, 0x3a90, 0x3a90,
    0x3a90, 0x4040, 0xc040, 0x4040, 0x4040, 0x4040, 0x4040, 0x4041,
    0xc041, 0x4041, 0x4041, 0x4041, 0x4041, 0x4041, 0xc041, 0x4041,
    0x4041, 0x4041, 0x4041, 0x4070, 0xc070, 0x4070, 0x4070, 0x4070,
    0x4070, 0x7f7f, 0xff7f, 0x7f80, 0xff80, 0x7f7f, 0x7f80, 0x7f80,
    0x4780, 0xc780, 0x4780, 0xc780, 0x4780, 0x4780, 0x4780, 0x0001,
    0x8001, 0x0000, 0x8000, 0x0002, 0x0002, 0x0001, 0x0001, 0x0080,
    0x007f, 0x0080, 0x0080, 0x3380, 0xb380, 0x3300, 0xb300, 0x33c0,
    0x3420, 0x3340, 0x3300, 0x3880, 0x3880, 0x3880, 0x3880, 0x0001,
    0x8001, 0x0000, 0x0000, 0x4780, 0x4780, 0x4780, 0x47c3, 0x7f7f,
    0x7f80, 0x3f81, 0x3f80, 0xbf81, 0x3f81, 0x3dcd, 0x3eab, 0x4049,
    0x402e, 0x3765, 0xc4ed, 0x398b, 0xc823, 0xac25, 0xaea8, 0x3aba,
    0x42b1, 0xc1e0, 0xc7bd, 0x48b2, 0x4660, 0x2d94, 0xc271, 0x336e,
    0xd03e, 0x4cc2, 0xd0c0, 0x33e8, 0x31d1, 0x3691, 0x44fc, 0x2f35,
    0x47db, 0xbba7, 0x4aca, 0x3b6a, 0x4694, 0x3b01, 0x38ae, 0x3c35,
    0x404c, 0x4fed, 0x4a46, 0xaeda, 0x2aa7, 0xb8b5, 0xbc17, 0x5274,
    0x47be, 0xc2bd, 0x465e, 0xc0f2, 0x3adc, 0xb87f, 0x4cd4, 0x4204,
    0x4a04, 0x5128, 0x4b1e, 0xae0d, 0xb2ec, 0xc5be, 0xc278, 0xaf2a,
    0xaebd, 0xab64, 0x3081, 0xcc3a, 0xbc07, 0x4645, 0x4567, 0x3edb,
    0xbb69, 0xaa6c, 0xadd4, 0x37ee, 0x4776, 0x3024, 0x3c33, 0x2fe8,
    0x3931, 0x3804, 0xb246, 0x413d, 0xca34, 0xb71a, 0xc4ee, 0xc4c0,
    0x42d6, 0xc6fe, 0xb227, 0xbf93, 0x47cf, 0xd1f4, 0xb269, 0x2dab,
    0xbee7, 0xc6e3, 0xae26, 0x34ca, 0x4f3a, 0xaf95, 0xd077, 0xba5a,
    0xccf9, 0x356f, 0x50be, 0xc254, 0x3e67, 0xaee4, 0xad4f, 0xb34e,
    0x4c87, 0x47c7, 0x46bc, 0xc14d, 0xce6c, 0xbf13, 0xabc7, 0x3de7,
    0x43ad, 0x4596, 0xd176, 0xbb2b, 0x38a5, 0xb9d6, 0xad0b, 0x50de,
    0x3b08,
};
static const uint16_t K_F16_FROM_F32[] = {
    0x0000, 0x8000, 0x3c00, 0xbc00, 0x7c00, 0xfc00, 0x7e00, 0x3800,
    0x3800, 0x3c04, 0xbc04, 0x3c04, 0x3c04, 0x3c04, 0x3c04, 0x3c0c,
    0xbc0c, 0x3c0c, 0x3c0c, 0x3c0c, 0x3c0c, 0x3c14, 0xbc14, 0x3c14,
    0x3c14, 0x3c14, 0x3c14, 0x3ffc, 0xbffc, 0x3ffc, 0x3ffc, 0x3ffc,
    0x3ffc, 0x6404, 0xe404, 0x6404, 0x6404, 0x6404, 0x6404, 0x640c,
    0xe40c, 0x640c, 0x640c, 0x640c, 0x640c, 0x6414, 0xe414, 0x6414,
    0x6414, 0x6414, 0x6414, 0x67fc, 0xe7fc, 0x67fc, 0x67fc, 0x67fc,
    0x67fc, 0x1404, 0x9404, 0x1404, 0x1404, 0x1404, 0x1404, 0x140c,
    0x940c, 0x140c, 0x140c, 0x140c, 0x140c, 0x1414, 0x9414, 0x1414,
    0x1414, 0x1414, 0x1414, 0x17fc, 0x97fc, 0x17fc, 0x17fc, 0x17fc,
    0x17fc, 0x420c, 0xc20c, 0x420c, 0x420c, 0x420c, 0x420c, 0x4224,
    0xc224, 0x4224, 0x4224, 0x4224, 0x4224, 0x423c, 0xc23c, 0x423c,
    0x423c, 0x423c, 0x423c, 0x487d, 0xc87d, 0x487d, 0x487d, 0x487d,
    0x487d, 0x3c00, 0xbc00, 0x3c01, 0x3c00, 0x3c00, 0x3c00, 0x3c02,
    0xbc02, 0x3c02, 0x3c01, 0x3c02, 0x3c02, 0x3c02, 0xbc02, 0x3c03,
    0x3c02, 0x3c02, 0x3c02, 0x3c80, 0xbc80, 0x3c80, 0x3c7f, 0x3c80,
    0x3c80, 0x6400, 0xe400, 0x6401, 0x6400, 0x6400, 0x6400, 0x6402,
    0xe402, 0x6402, 0x6401, 0x6402, 0x6402, 0x6402, 0xe402, 0x6403,
    0x6402, 0x6402, 0x6402, 0x6480, 0xe480, 0x6480, 0x647f, 0x6480,
    0x6480, 0x1400, 0x9400, 0x1401, 0x1400, 0x1400, 0x1400, 0x1402,
    0x9402, 0x1402, 0x1401, 0x1402, 0x1402, 0x1402, 0x9402, 0x1403,
    0x1402, 0x1402, 0x1402, 0x1480, 0x9480, 0x1480, 0x147f, 0x1480,
    0x1480, 0x4202, 0xc202, 0x4202, 0x4201, 0x4202, 0x4202, 0x4204,
    0xc204, 0x4205, 0x4204, 0x4204, 0x4204, 0x4208, 0xc208, 0x4208,
    0x4207, 0x4208, 0x4208, 0x437e, 0xc37e, 0x437f, 0x437e, 0x437e,
    0x437e, 0x7c00, 0xfc00, 0x7c00, 0xfc00, 0x7c00, 0x7c00, 0x7c00,
    0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7c00, 0x7c00, 0x7c00, 0x0000,
    0x8000, 0x0000, 0x8000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0001, 0x8001, 0x0000, 0x8000, 0x0002,
    0x0002, 0x0001, 0x0001, 0x0400, 0x03ff, 0x0400, 0x0400, 0x0000,
    0x8000, 0x0000, 0x0000, 0x7bff, 0x7bff, 0x7c00, 0x7c00, 0x7c00,
    0x7c00, 0x3c04, 0x3c00, 0xbc04, 0x3c0c, 0x2e66, 0x3555, 0x4248,
    0x4170, 0x00e5, 0xe76c, 0x0c59, 0xfc00, 0x8000, 0x8000, 0x15cf,
    0x558b, 0xcefe, 0xfc00, 0x7c00, 0x7300, 0x0000, 0xd387, 0x0001,
    0xfc00, 0x7c00, 0xfc00, 0x0002, 0x0000, 0x0048, 0x67e2, 0x0000,
    0x7c00, 0x9d36, 0x7c00, 0x1b54, 0x74a0, 0x1808, 0x0571, 0x21a8,
    0x425f, 0x7c00, 0x7c00, 0x8000, 0x0000, 0x85a9, 0xa0b9, 0x7c00,
    0x7c00, 0xd5e7, 0x72f3, 0xc78f, 0x16e0, 0x83fc, 0x7c00, 0x5022,
    0x7c00, 0x7c00, 0x7c00, 0x8000, 0x8000, 0xedf2, 0xd3bd, 0x8000,
    0x8000, 0x8000, 0x0000, 0xfc00, 0xa039, 0x7228, 0x6b3b, 0x36db,
    0x9b47, 0x8000, 0x8000, 0x01dd, 0x7baf, 0x0000, 0x2196, 0x0000,
    0x098b, 0x0210, 0x8000, 0x49e8, 0xfc00, 0x809a, 0xe76f, 0xe5fd,
    0x56b4, 0xf7f0, 0x8000, 0xbc9c, 0x7c00, 0xfc00, 0x8000, 0x0000,
    0xb73a, 0xf717, 0x8000, 0x0006, 0x7c00, 0x8000, 0xfc00, 0x92d0,
    0xfc00, 0x000f, 0x7c00, 0xd2a0, 0x3338, 0x8000, 0x8000, 0x8001,
    0x7c00, 0x7c00, 0x75e4, 0xca64, 0xfc00, 0xb89a, 0x8000, 0x2f3a,
    0x5d6b, 0x6caf, 0xfc00, 0x9958, 0x0527, 0x8eb4, 0x8000, 0x7c00,
    0x183c,
};
static const uint16_t K_F16_FROM_F64[] = {
    0x0000, 0x8000, 0x3c00, 0xbc00, 0x7c00, 0xfc00, 0x7e00, 0x3800,
    0x3800, 0x3c04, 0xbc04, 0x3c04, 0x3c04, 0x3c04, 0x3c04, 0x3c0c,
    0xbc0c, 0x3c0c, 0x3c0c, 0x3c0c, 0x3c0c, 0x3c14, 0xbc14, 0x3c14,
    0x3c14, 0x3c14, 0x3c14, 0x3ffc, 0xbffc, 0x3ffc, 0x3ffc, 0x3ffc,
    0x3ffc, 0x6404, 0xe404, 0x6404, 0x6404, 0x6404, 0x6404, 0x640c,
    0xe40c, 0x640c, 0x640c, 0x640c, 0x640c, 0x6414, 0xe414, 0x6414,
    0x6414, 0x6414, 0x6414, 0x67fc, 0xe7fc, 0x67fc, 0x67fc, 0x67fc,
    0x67fc, 0x1404, 0x9404, 0x1404, 0x1404, 0x1404, 0x1404, 0x140c,
    0x940c, 0x140c, 0x140c, 0x140c, 0x140c, 0x1414, 0x9414, 0x1414,
    0x1414, 0x1414, 0x1414, 0x17fc, 0x97fc, 0x17fc, 0x17fc, 0x17fc,
    0x17fc, 0x420c, 0xc20c, 0x420c, 0x420c, 0x420c, 0x420c, 0x4224,
    0xc224, 0x4224, 0x4224, 0x4224, 0x4224, 0x423c, 0xc23c, 0x423c,
    0x423c, 0x423c, 0x423c, 0x487d, 0xc87d, 0x487d, 0x487d, 0x487d,
    0x487d, 0x3c00, 0xbc00, 0x3c01, 0x3c00, 0x3c00, 0x3c01, 0x3c02,
    0xbc02, 0x3c02, 0x3c01, 0x3c01, 0x3c02, 0x3c02, 0xbc02, 0x3c03,
    0x3c02, 0x3c02, 0x3c03, 0x3c80, 0xbc80, 0x3c80, 0x3c7f, 0x3c7f,
    0x3c80, 0x6400, 0xe400, 0x6401, 0x6400, 0x6400, 0x6401, 0x6402,
    0xe402, 0x6402, 0x6401, 0x6401, 0x6402, 0x6402, 0xe402, 0x6403,
    0x6402, 0x6402, 0x6403, 0x6480, 0xe480, 0x6480, 0x647f, 0x647f,
    0x6480, 0x1400, 0x9400, 0x1401, 0x1400, 0x1400, 0x1401, 0x1402,
    0x9402, 0x1402, 0x1401, 0x1401, 0x1402, 0x1402, 0x9402, 0x1403,
    0x1402, 0x1402, 0x1403, 0x1480, 0x9480, 0x1480, 0x147f, 0x147f,
    0x1480, 0x4202, 0xc202, 0x4202, 0x4201, 0x4201, 0x4202, 0x4204,
    0xc204, 0x4205, 0x4204, 0x4204, 0x4205, 0x4208, 0xc208, 0x4208,
    0x4207, 0x4207, 0x4208, 0x437e, 0xc37e, 0x437f, 0x437e, 0x437e,
    0x437f, 0x7c00, 0xfc00, 0x7c00, 0xfc00, 0x7c00, 0x7c00, 0x7c00,
    0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7bff, 0x7c00, 0x7c00, 0x0000,
    0x8000, 0x0000, 0x8000, 0x0000, 0x0000, 0x0000, 0x0000, 0x0000,
    0x0000, 0x0000, 0x0000, 0x0001, 0x8001, 0x0000, 0x8000, 0x0002,
    0x0002, 0x0001, 0x0001, 0x0400, 0x03ff, 0x0400, 0x0400, 0x0000,
    0x8000, 0x0000, 0x0000, 0x7bff, 0x7bff, 0x7c00, 0x7c00, 0x7c00,
    0x7c00, 0x3c04, 0x3c01, 0xbc04, 0x3c0c, 0x2e66, 0x3555, 0x4248,
    0x4170, 0x00e5, 0xe76c, 0x0c59, 0xfc00, 0x8000, 0x8000, 0x15cf,
    0x558b, 0xcefe, 0xfc00, 0x7c00, 0x7300, 0x0000, 0xd387, 0x0001,
    0xfc00, 0x7c00, 0xfc00, 0x0002, 0x0000, 0x0048, 0x67e2, 0x0000,
    0x7c00, 0x9d36, 0x7c00, 0x1b54, 0x74a0, 0x1808, 0x0571, 0x21a8,
    0x425f, 0x7c00, 0x7c00, 0x8000, 0x0000, 0x85a9, 0xa0b9, 0x7c00,
    0x7c00, 0xd5e7, 0x72f3, 0xc78f, 0x16e0, 0x83fc, 0x7c00, 0x5022,
    0x7c00, 0x7c00, 0x7c00, 0x8000, 0x8000, 0xedf2, 0xd3bd, 0x8000,
    0x8000, 0x8000, 0x0000, 0xfc00, 0xa039, 0x7228, 0x6b3b, 0x36db,
    0x9b47, 0x8000, 0x8000, 0x01dd, 0x7baf, 0x0000, 0x2196, 0x0000,
    0x098b, 0x0210, 0x8000, 0x49e8, 0xfc00, 0x809a, 0xe76f, 0xe5fd,
    0x56b4, 0xf7f0, 0x8000, 0xbc9c, 0x7c00, 0xfc00, 0x8000, 0x0000,
    0xb73a, 0xf717, 0x8000, 0x0006, 0x7c00, 0x8000, 0xfc00, 0x92d0,
    0xfc00, 0x000f, 0x7c00, 0xd2a0, 0x3338, 0x8000, 0x8000, 0x8001,
    0x7c00, 0x7c00, 0x75e4, 0xca64, 0xfc00, 0xb89a, 0x8000, 0x2f3a,
    0x5d6b, 0x6caf, 0xfc00, 0x9958, 0x0527, 0x8eb4, 0x8000, 0x7c00,
    0x183c,
};
#define K_DOUBLE_ROUNDED 37
static const int64_t K_I64[] = {
    INT64_C(9007199254740993), INT64_C(1157425104234217473), INT64_C(-1157425104234217472),
    INT64_C(4638707616191610879), INT64_C(9223372036854775807), INT64_MIN,
    INT64_C(65519), INT64_C(65520), INT64_C(300),
    INT64_C(-257), INT64_C(16777217), INT64_C(12345678901),
};
static const uint16_t K_BF16_FROM_I64[] = {
    0x5a00, 0x5d81, 0xdd80, 0x5e81, 0x5f00, 0xdf00, 0x4780, 0x4780,
    0x4396, 0xc380, 0x4b80, 0x5038,
};
static const uint16_t K_F16_FROM_I64[] = {
    0x7c00, 0x7c00, 0xfc00, 0x7c00, 0x7c00, 0xfc00, 0x7bff, 0x7c00,
    0x5cb0, 0xdc04, 0x7c00, 0x7c00,
};
#define K_FNV_BF16_WIDEN UINT64_C(0x43a13836c4ca3b25)
#define K_FNV_BF16_TIES UINT64_C(0xe398a4e5cda2af15)
#define K_N_BF16_TIES 195840
#define K_FNV_F16_WIDEN UINT64_C(0x5d79f1b086f30345)
#define K_FNV_F16_TIES UINT64_C(0x428b7c0dd35bb045)
#define K_N_F16_TIES 190464
#define K_REPR_BF16 "tensor([ 1.1016, -2.5000,  3.0000], dtype=bfloat16)"
#define K_REPR_F16 "tensor([[1.0000e+00, 2.0000e+00],\n        [6.5504e+04, -0.0000e+00]], dtype=float16)"
#define K_REPR_F16_NAN "tensor([1.0004e-03, 1.0000e+04,        nan], dtype=float16)"
#define K_REPR_BF16_SCALAR "tensor(2.5000, dtype=bfloat16)"
/* END ref_dtypes.py output */

static const nb_dtype k_half[2] = {NB_BF16, NB_F16};

static bool is_nan_bits(nb_dtype dt, uint16_t h)
{
    return dt == NB_BF16 ? (h & 0x7f80) == 0x7f80 && (h & 0x7f) : (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
}

static uint16_t quiet_bit(nb_dtype dt) { return dt == NB_BF16 ? 0x40 : 0x200; }

/* got == want, or both NaN and got quiet. */
static void check_bits(nb_dtype dt, uint16_t got, uint16_t want, const char *what, int i, double x)
{
    if (is_nan_bits(dt, want)) {
        ck_assert_msg(is_nan_bits(dt, got) && (got & quiet_bit(dt)), "%s %d (%a): 0x%04x is not a quiet NaN", what,
                      i, x, got);
        return;
    }
    ck_assert_msg(got == want, "%s %d (%a): got 0x%04x, want 0x%04x", what, i, x, got, want);
}

static const uint16_t *bits_of(const nb_tensor *t) { return nb_tensor_data(t); }

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * UINT64_C(0x100000001B3);
    return h;
}
#define FNV0 UINT64_C(0xCBF29CE484222325)

/* ---- conversions against PyTorch and exact rounding ------------------------------------------ */
START_TEST(test_ref_bits)
{
    int n = NV(K_VALUES);
    ck_assert_int_eq(n, NV(K_BF16_FROM_F32));
    ck_assert_int_gt(K_DOUBLE_ROUNDED, 0); /* the set holds inputs where rounding twice differs */
    float *f = malloc((size_t)n * sizeof *f);
    for (int i = 0; i < n; i++)
        f[i] = (float)K_VALUES[i]; /* C rounds to nearest even, as PyTorch's float64 -> float32 */
    nb_tensor *t32 = nb_from_data(f, NB_DIMS(n), NB_F32), *t64 = nb_from_data(K_VALUES, NB_DIMS(n), NB_F64);
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k_half[k];
        const uint16_t *w32 = k ? K_F16_FROM_F32 : K_BF16_FROM_F32, *w64 = k ? K_F16_FROM_F64 : K_BF16_FROM_F64;
        nb_tensor *a = nb_to_dtype(t32, dt), *b = nb_to_dtype(t64, dt);
        /* a strided source takes the generic path; a contiguous one the float32 loop */
        nb_tensor *c = nb_to_dtype(nb_flip(t32, (int[]){0}, 1), dt);
        for (int i = 0; i < n; i++) {
            check_bits(dt, bits_of(a)[i], w32[i], nb_dtype_name(dt), i, f[i]);
            check_bits(dt, bits_of(c)[n - 1 - i], w32[i], "flipped", i, f[i]);
            check_bits(dt, bits_of(b)[i], w64[i], "from float64", i, K_VALUES[i]);
            uint16_t s32 = k ? nb_float_to_f16(f[i]) : nb_float_to_bf16(f[i]);
            uint16_t s64 = k ? nb_float_to_f16(K_VALUES[i]) : nb_float_to_bf16(K_VALUES[i]);
            check_bits(dt, s32, w32[i], "scalar", i, f[i]);
            check_bits(dt, s64, w64[i], "scalar from float64", i, K_VALUES[i]);
            /* the element setter and nb_from_doubles round the same way */
            nb_tensor *e = nb_from_doubles(&K_VALUES[i], NB_DIMS(1), dt);
            check_bits(dt, bits_of(e)[0], w64[i], "nb_from_doubles", i, K_VALUES[i]);
        }
        nb_tensor *ti = nb_from_data(K_I64, NB_DIMS(NV(K_I64)), NB_I64);
        nb_tensor *ci = nb_to_dtype(ti, dt);
        for (int i = 0; i < NV(K_I64); i++)
            check_bits(dt, bits_of(ci)[i], (k ? K_F16_FROM_I64 : K_BF16_FROM_I64)[i], "from int64", i,
                       (double)K_I64[i]);
    }
    free(f);
}
END_TEST

static nb_tensor *all_patterns(nb_dtype dt)
{
    uint16_t *p = malloc(65536 * sizeof *p);
    for (int i = 0; i < 65536; i++)
        p[i] = (uint16_t)i;
    nb_tensor *t = nb_from_data(p, NB_DIMS(65536), dt);
    free(p);
    return t;
}

/* Every pattern widened (to float32 as PyTorch: the same bits, by hash; to float64 and through
 * the scalar API: the same value) and narrowed back: itself, a NaN made quiet. */
START_TEST(test_exhaustive_round_trip)
{
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k_half[k];
        nb_tensor *h = all_patterns(dt), *f = nb_to_dtype(h, NB_F32), *d = nb_to_dtype(h, NB_F64);
        ck_assert_uint_eq(fnv(FNV0, nb_tensor_data(f), 65536 * 4), (k ? K_FNV_F16_WIDEN : K_FNV_BF16_WIDEN));
        nb_tensor *back32 = nb_to_dtype(f, dt), *back64 = nb_to_dtype(d, dt);
        const float *fv = nb_tensor_data(f);
        const double *dv = nb_tensor_data(d);
        for (int i = 0; i < 65536; i++) {
            uint16_t want = is_nan_bits(dt, (uint16_t)i) ? (uint16_t)(i | quiet_bit(dt)) : (uint16_t)i;
            ck_assert_msg(bits_of(back32)[i] == want && bits_of(back64)[i] == want,
                          "%s 0x%04x: back 0x%04x / 0x%04x", nb_dtype_name(dt), i, bits_of(back32)[i],
                          bits_of(back64)[i]);
            double s = k ? nb_f16_to_float((uint16_t)i) : nb_bf16_to_float((uint16_t)i);
            ck_assert(isnan(s) ? isnan(dv[i]) && isnan(fv[i])
                               : s == dv[i] && s == (double)fv[i] && signbit(s) == signbit(dv[i]));
            if (!isnan(s))
                ck_assert_uint_eq(k ? nb_float_to_f16(s) : nb_float_to_bf16(s), i);
            ck_assert(isnan(s) || nb_tensor_get(h, (int64_t[]){i}) == s);
        }
    }
}
END_TEST

/* Every float32 midpoint between adjacent finite values (and the overflow threshold) with its two
 * float32 neighbours, both signs, in ref_dtypes.py's order: PyTorch's patterns, by hash. */
static nb_tensor *ties(nb_dtype dt, int *count)
{
    int ebits = dt == NB_BF16 ? 8 : 5, mbits = dt == NB_BF16 ? 7 : 10;
    int top = (((1 << ebits) - 1) << mbits) - 1;
    uint32_t *u = malloc((size_t)(top + 1) * 6 * sizeof *u);
    int n = 0;
    for (int h = 0; h <= top; h++) {
        double a = dt == NB_BF16 ? nb_bf16_to_float((uint16_t)h) : nb_f16_to_float((uint16_t)h);
        double b = h < top ? (dt == NB_BF16 ? nb_bf16_to_float((uint16_t)(h + 1)) : nb_f16_to_float((uint16_t)(h + 1)))
                           : ldexp(1.0, 1 << (ebits - 1));
        float m = (float)((a + b) / 2);
        uint32_t mb;
        memcpy(&mb, &m, sizeof mb);
        u[n++] = mb - 1, u[n++] = mb, u[n++] = mb + 1;
    }
    for (int i = 0, half = n; i < half; i++)
        u[n++] = u[i] | 0x80000000u;
    nb_tensor *t = nb_from_data(u, NB_DIMS(n), NB_F32);
    free(u);
    *count = n;
    return t;
}

START_TEST(test_exhaustive_ties)
{
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k_half[k];
        int n;
        nb_tensor *f = ties(dt, &n);
        ck_assert_int_eq(n, k ? K_N_F16_TIES : K_N_BF16_TIES);
        nb_tensor *h = nb_to_dtype(f, dt), *d = nb_to_dtype(nb_to_dtype(f, NB_F64), dt);
        uint64_t want = k ? K_FNV_F16_TIES : K_FNV_BF16_TIES;
        ck_assert_uint_eq(fnv(FNV0, nb_tensor_data(h), (size_t)n * 2), want);
        ck_assert_uint_eq(fnv(FNV0, nb_tensor_data(d), (size_t)n * 2), want); /* float64 path: exact too */
    }
}
END_TEST

/* ---- storage: creation, copies, views, element access, printing ------------------------------ */
static double rounded(nb_dtype dt, double v)
{
    return dt == NB_BF16 ? nb_bf16_to_float(nb_float_to_bf16(v)) : nb_f16_to_float(nb_float_to_f16(v));
}

START_TEST(test_storage)
{
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k_half[k];
        ck_assert_uint_eq(nb_dtype_size(dt), 2);
        ck_assert(nb_dtype_is_storage_only(dt) && !nb_dtype_is_float(dt));
        nb_tensor *z = nb_zeros(NB_DIMS(2, 3), dt), *o = nb_ones(NB_DIMS(2, 3), dt), *fl = nb_full(NB_DIMS(5), 1.1, dt);
        nb_tensor *e = nb_empty(NB_DIMS(4), dt), *sc = nb_scalar(-2.5, dt), *ar = nb_arange(0, 5, 0.5, dt);
        ck_assert(nb_tensor_dtype(e) == dt && nb_tensor_numel(e) == 4);
        for (int i = 0; i < 6; i++) {
            ck_assert(bits_of(z)[i] == 0);
            ck_assert(bits_of(o)[i] == (k ? 0x3c00 : 0x3f80));
        }
        for (int i = 0; i < 5; i++)
            ck_assert(nb_tensor_get(fl, (int64_t[]){i}) == rounded(dt, 1.1) && bits_of(fl)[i] == (k ? 0x3c66 : 0x3f8d));
        ck_assert(nb_tensor_item(sc) == -2.5);
        for (int i = 0; i < 10; i++)
            ck_assert(nb_tensor_get(ar, (int64_t[]){i}) == 0.5 * i);
        ck_assert(nb_tensor_item(nb_full(NB_SCALAR, 1e6, dt)) == (k ? INFINITY : rounded(dt, 1e6))); /* f16 overflows */
        nb_tensor *ey = nb_eye(3, -1, dt);
        ck_assert(nb_tensor_get(ey, (int64_t[]){1, 1}) == 1 && nb_tensor_get(ey, (int64_t[]){1, 2}) == 0);
        /* set / get / to_doubles / to_floats */
        nb_tensor_set(z, (int64_t[]){1, 2}, 3.14159);
        ck_assert(nb_tensor_get(z, (int64_t[]){1, 2}) == rounded(dt, 3.14159));
        double dv[6];
        float fv[6];
        nb_tensor_to_doubles(z, dv);
        nb_tensor_to_floats(z, fv);
        ck_assert(dv[5] == rounded(dt, 3.14159) && fv[5] == (float)dv[5] && dv[0] == 0);

        /* views share storage and see the 16-bit elements at the right strides */
        nb_tensor *src = nb_randn(NB_DIMS(3, 4, 5), NB_F32, NULL), *h = nb_to_dtype(src, dt);
        nb_tensor *views[] = {nb_transpose(h, 0, 2), nb_narrow(h, 1, 1, 2), nb_slice(h, 2, 1, 5, 2), nb_select(h, 0, 2),
                              nb_expand(nb_narrow(h, 0, 0, 1), NB_DIMS(4, 4, 5)), nb_permute(h, (int[]){1, 2, 0})};
        nb_tensor *fviews[] = {nb_transpose(src, 0, 2), nb_narrow(src, 1, 1, 2), nb_slice(src, 2, 1, 5, 2),
                               nb_select(src, 0, 2), nb_expand(nb_narrow(src, 0, 0, 1), NB_DIMS(4, 4, 5)),
                               nb_permute(src, (int[]){1, 2, 0})};
        for (int v = 0; v < NV(views); v++) {
            ck_assert(nb_tensor_shares_storage(views[v], h));
            nb_tensor *c = nb_contiguous(views[v]), *want = nb_to_dtype(fviews[v], dt);
            ck_assert(nb_tensor_is_contiguous(c) && nb_tensor_dtype(c) == dt);
            ck_assert(memcmp(nb_tensor_data(c), nb_tensor_data(want), (size_t)nb_tensor_numel(c) * 2) == 0);
            nb_tensor *back = nb_to_dtype(views[v], NB_F32), *fw = nb_to_dtype(want, NB_F32);
            double *fv = tu_values(fw);
            tu_assert_values_n(back, nb_tensor_numel(fw), fv, 0);
            free(fv);
        }
        /* data-movement ops work on the bits: the same as on float32 then converted */
        nb_tensor *m = nb_narrow(nb_reshape(h, NB_DIMS(12, 5)), 0, 0, 4);
        nb_tensor *mf = nb_narrow(nb_reshape(src, NB_DIMS(12, 5)), 0, 0, 4);
        nb_tensor *idx = tu_ints(NB_I64, NB_DIMS(3), (const int64_t[]){2, 0, 2});
        nb_tensor *moved[] = {nb_clone(m), nb_cat((nb_tensor *[]){m, m}, 2, 1), nb_stack((nb_tensor *[]){m, m}, 2, 0),
                              nb_flip(m, (int[]){1}, 1), nb_roll(m, (int64_t[]){2}, 1, (int[]){1}, 1),
                              nb_repeat(m, (int64_t[]){2, 1}, 2), nb_index_select(m, 0, idx), nb_embedding(m, idx),
                              nb_tril(m, 0), nb_triu(m, 1), nb_pad(m, (int64_t[]){1, 2}, 2, NB_PAD_CONSTANT, 0.5),
                              nb_reshape(nb_transpose(m, 0, 1), NB_DIMS(20))};
        nb_tensor *fmoved[] = {nb_clone(mf), nb_cat((nb_tensor *[]){mf, mf}, 2, 1),
                               nb_stack((nb_tensor *[]){mf, mf}, 2, 0),
                               nb_flip(mf, (int[]){1}, 1), nb_roll(mf, (int64_t[]){2}, 1, (int[]){1}, 1),
                               nb_repeat(mf, (int64_t[]){2, 1}, 2), nb_index_select(mf, 0, idx), nb_embedding(mf, idx),
                               nb_tril(mf, 0), nb_triu(mf, 1), nb_pad(mf, (int64_t[]){1, 2}, 2, NB_PAD_CONSTANT, 0.5),
                               nb_reshape(nb_transpose(mf, 0, 1), NB_DIMS(20))};
        for (int v = 0; v < NV(moved); v++) {
            nb_tensor *want = nb_to_dtype(fmoved[v], dt), *got = nb_contiguous(moved[v]);
            ck_assert_msg(nb_tensor_dtype(got) == dt && nb_tensor_same_shape(got, want), "op %d", v);
            ck_assert_msg(memcmp(nb_tensor_data(got), nb_tensor_data(want), (size_t)nb_tensor_numel(got) * 2) == 0,
                          "op %d", v);
        }
        /* copies between dtypes, in place into views */
        nb_tensor *dst = nb_zeros(NB_DIMS(4, 5), dt);
        nb_copy_(nb_narrow(dst, 0, 1, 2), nb_narrow(mf, 0, 0, 2));
        nb_tensor *want = nb_to_dtype(nb_narrow(mf, 0, 0, 2), dt);
        ck_assert(memcmp(bits_of(dst) + 5, nb_tensor_data(want), 20) == 0 && bits_of(dst)[0] == 0);
        nb_fill_(nb_select(dst, 0, 3), -0.0);
        ck_assert(bits_of(dst)[19] == 0x8000);
        /* bfloat16 <-> float16 goes through the exact value: rounds once */
        nb_dtype od = k ? NB_BF16 : NB_F16;
        nb_tensor *other = nb_to_dtype(h, od), *oo = nb_to_dtype(nb_to_dtype(h, NB_F64), od);
        ck_assert(memcmp(nb_tensor_data(other), nb_tensor_data(oo), 120) == 0);
        /* integers: truncation toward zero; a value that does not fit is misuse, as from float32 */
        nb_tensor *ints = nb_to_dtype(nb_from_doubles((double[]){-2.75, 3.5, 65504}, NB_DIMS(3), dt), NB_I32);
        tu_assert_shape_values(ints, NB_DIMS(3), VALS(-2, 3, k ? 65504 : 65536), 0);
        nb_tensor *infs = nb_full(NB_DIMS(1), INFINITY, dt);
        int depth = nb_scope_depth();
        TU_EXPECT_ERROR("cannot be converted to int32", nb_to_dtype(infs, NB_I32));
        nb_recover(depth);
        nb_tensor *bools = nb_to_dtype(nb_from_doubles((double[]){0, -0.0, NAN, 1e-40}, NB_DIMS(4), dt), NB_BOOL);
        /* 1e-40: bf16 subnormal, f16 zero */
        tu_assert_shape_values(bools, NB_DIMS(4), VALS(0, 0, 1, dt == NB_BF16), 0);
    }
}
END_TEST

static void check_repr(nb_tensor *t, const char *want)
{
    char *s = nb_tensor_repr(t);
    ck_assert_msg(strcmp(s, want) == 0, "repr:\n%s\nwant:\n%s", s, want);
    free(s);
}

START_TEST(test_print)
{
    check_repr(nb_from_doubles((double[]){1.1, -2.5, 3.0}, NB_DIMS(3), NB_BF16), K_REPR_BF16);
    check_repr(nb_from_doubles((double[]){1.0, 2.0, 65504.0, -0.0}, NB_DIMS(2, 2), NB_F16), K_REPR_F16);
    check_repr(nb_from_doubles((double[]){1e-3, 1e4, NAN}, NB_DIMS(3), NB_F16), K_REPR_F16_NAN);
    check_repr(nb_scalar(2.5, NB_BF16), K_REPR_BF16_SCALAR);
}
END_TEST

/* ---- compute ops: one misuse line naming the op and the dtype -------------------------------- */
#define MISUSE(op, stmt)                                                                           \
    do {                                                                                           \
        char want_[160];                                                                           \
        snprintf(want_, sizeof want_, "%s: %s is a storage-only dtype", op, nb_dtype_name(dt));     \
        int depth_ = nb_scope_depth();                                                             \
        TU_EXPECT_ERROR(want_, stmt);                                                              \
        nb_recover(depth_);                                                                        \
    } while (0)

START_TEST(test_compute_misuse)
{
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k_half[k];
        nb_tensor *x = nb_to_dtype(nb_randn(NB_DIMS(2, 3, 4, 4), NB_F32, NULL), dt);
        nb_tensor *m = nb_to_dtype(nb_randn(NB_DIMS(4, 4), NB_F32, NULL), dt), *f = nb_zeros(NB_DIMS(4), NB_F32);
        nb_tensor *i2 = nb_zeros(NB_DIMS(2, 4), NB_I64), *t4 = nb_zeros(NB_DIMS(4), NB_I64);
        int d0[1] = {0};
        MISUSE("nb_add", nb_add(x, x));
        MISUSE("nb_add", nb_add(x, f));
        MISUSE("nb_add", nb_add(f, x));
        MISUSE("nb_mul", nb_mul(x, x));
        MISUSE("nb_div", nb_div(x, x));
        MISUSE("nb_maximum", nb_maximum(x, x));
        MISUSE("nb_neg", nb_neg(x));
        MISUSE("nb_abs", nb_abs(x));
        MISUSE("nb_relu", nb_relu(x));
        MISUSE("nb_exp", nb_exp(x));
        MISUSE("nb_square", nb_square(x));
        MISUSE("nb_sign", nb_sign(x));
        MISUSE("nb_isnan", nb_isnan(x));
        MISUSE("nb_add_scalar", nb_add_scalar(x, 1));
        MISUSE("nb_clamp", nb_clamp(x, 0, 1));
        MISUSE("nb_gelu", nb_gelu(x, NB_GELU_TANH));
        MISUSE("nb_compare", nb_lt(x, x));
        MISUSE("nb_compare_scalar", nb_compare_scalar(x, 0, NB_CMP_GT));
        MISUSE("nb_where", nb_where(nb_zeros(NB_DIMS(4), NB_BOOL), x, x));
        MISUSE("nb_masked_fill", nb_masked_fill(x, nb_zeros(NB_DIMS(4), NB_BOOL), 0.5));
        MISUSE("nb_add_", nb_add_(nb_clone(x), x));
        MISUSE("nb_mul_scalar_", nb_mul_scalar_(nb_clone(x), 2));
        MISUSE("nb_sum", nb_sum(x, NULL, 0, false));
        MISUSE("nb_mean", nb_mean(x, d0, 1, true));
        MISUSE("nb_var", nb_var(x, NULL, 0, 1, false));
        MISUSE("nb_logsumexp", nb_logsumexp(x, d0, 1, false));
        MISUSE("nb_max", nb_max(x, 0, false, NULL));
        MISUSE("nb_min", nb_min(x, 0, false, NULL));
        MISUSE("nb_argmax", nb_argmax(x, 0, false));
        MISUSE("nb_softmax", nb_softmax(x, -1));
        MISUSE("nb_log_softmax", nb_log_softmax(x, -1));
        MISUSE("nb_matmul", nb_matmul(m, m));
        MISUSE("nb_scatter_add", nb_scatter_add(m, 0, i2, nb_narrow(m, 0, 0, 2)));
        MISUSE("nb_cumsum", nb_cumsum(x, 0));
        MISUSE("nb_cumprod", nb_cumprod(x, 0));
        MISUSE("nb_prod", nb_prod(x, 0, false));
        MISUSE("nb_prod_all", nb_prod_all(x));
        MISUSE("nb_amax", nb_amax(x, d0, 1, false));
        MISUSE("nb_norm", nb_norm(x, 2, NULL, 0, false));
        MISUSE("nb_sort", nb_sort(x, 0, false, NULL));
        MISUSE("nb_argsort", nb_argsort(x, 0, false));
        MISUSE("nb_topk", nb_topk(x, 1, 0, true, true, NULL));
        MISUSE("nb_all", nb_all(x, NULL, 0, false));
        MISUSE("nb_any", nb_any(x, NULL, 0, false));
        MISUSE("nb_multinomial", nb_multinomial(m, 1, true, NULL));
        MISUSE("nb_layer_norm", nb_layer_norm(m, NULL, NULL, 1e-5));
        MISUSE("nb_rms_norm", nb_rms_norm(m, 1, NULL, 1e-5));
        MISUSE("nb_linear", nb_linear(m, m, NULL));
        MISUSE("nb_dropout", nb_dropout(m, 0.5, true, NULL));
        MISUSE("nb_scaled_dot_product_attention", nb_scaled_dot_product_attention(x, x, x, NULL, 0, true, 0.5, NULL));
        MISUSE("nb_rope", nb_rope(x, 0, 10000));
        MISUSE("nb_group_norm", nb_group_norm(x, 1, NULL, NULL, 1e-5));
        MISUSE("nb_mse_loss", nb_mse_loss(m, m, NB_REDUCTION_MEAN));
        MISUSE("nb_cross_entropy", nb_cross_entropy(m, t4, NULL));
        MISUSE("nb_nll_loss", nb_nll_loss(m, t4, NULL, NB_REDUCTION_MEAN, -100));
        MISUSE("nb_conv2d", nb_conv2d(x, nb_narrow(x, 1, 0, 3), NULL, NULL));
        MISUSE("nb_max_pool2d", nb_max_pool2d(x, 2, 2, NULL));
        MISUSE("nb_avg_pool2d", nb_avg_pool2d(x, 2, 2, NULL));
        MISUSE("nb_max_pool2d_with_indices", nb_max_pool2d_with_indices(x, 2, 2, NULL, NULL)); /* issue #15 */
        MISUSE("nb_max_unpool2d", nb_max_unpool2d(x, nb_zeros(NB_DIMS(2, 2, 2, 2), NB_I64), 2, 2, NULL, NULL));
        MISUSE("nb_normal_", nb_normal_(nb_clone(x), 0, 1, NULL));
        MISUSE("nb_uniform_", nb_uniform_(nb_clone(x), 0, 1, NULL));
        MISUSE("nb_uniform_", nb_rand(NB_DIMS(3), dt, NULL));
        /* the misuse lines these ops already had name the op and the dtype too */
        int depth = nb_scope_depth();
        TU_EXPECT_ERROR("nb_linspace: dtype", nb_linspace(0, 1, 5, dt));
        TU_EXPECT_ERROR("only float tensors can require grad", nb_tensor_requires_grad_(nb_clone(x), true));
        TU_EXPECT_ERROR("nb_set_default_dtype", nb_set_default_dtype(dt));
        nb_recover(depth);
    }
}
END_TEST

/* ---- safetensors BF16 / F16 ----------------------------------------------------------------- */
#define PYTHON "/usr/bin/python3"
static char g_dir[64];

static const char *tmp_path(const char *name)
{
    static char buf[4][160];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* The tensors of ref_dtypes.py's ST_TENSORS. */
static nb_state_dict *st_dict(void)
{
    nb_state_dict *sd = nb_state_dict_new();
    nb_state_dict_add(sd, "b",
                      nb_from_doubles((double[]){1.0, -3.5, 0x1p100, 1.1, -1e-40, INFINITY}, NB_DIMS(2, 3), NB_BF16));
    nb_state_dict_add(sd, "h", nb_from_doubles((double[]){0.5, -2.0, 65504.0, 0x1p-24}, NB_DIMS(4), NB_F16));
    nb_state_dict_add(sd, "x", nb_from_doubles((double[]){0.25, -8.0}, NB_DIMS(2), NB_F32));
    return sd;
}

static void assert_same_dict(const nb_state_dict *a, const nb_state_dict *b)
{
    ck_assert_int_eq(nb_state_dict_count(a), nb_state_dict_count(b));
    for (int i = 0; i < nb_state_dict_count(a); i++) {
        const nb_tensor *x = nb_state_dict_tensor_at(a, i), *y = nb_state_dict_get(b, nb_state_dict_name_at(a, i));
        ck_assert(y && nb_tensor_dtype(x) == nb_tensor_dtype(y) && nb_tensor_same_shape(x, y));
        size_t bytes = (size_t)nb_tensor_numel(x) * nb_dtype_size(nb_tensor_dtype(x));
        ck_assert(!memcmp(nb_tensor_data(x), nb_tensor_data(y), bytes));
    }
}

START_TEST(test_safetensors_round_trip)
{
    nb_state_dict *sd = st_dict(), *back;
    /* a transposed view is written in logical order */
    nb_tensor *tv = nb_to_dtype(nb_transpose(nb_randn(NB_DIMS(3, 5), NB_F32, NULL), 0, 1), NB_F16);
    nb_state_dict_add(sd, "t", nb_transpose(tv, 0, 1));
    const char *p = tmp_path("rt.safetensors");
    ck_assert_msg(nb_safetensors_save(sd, p) == NB_OK, "%s", nb_last_error());
    ck_assert_msg(nb_safetensors_load(p, &back) == NB_OK, "%s", nb_last_error());
    nb_state_dict *want = st_dict();
    nb_state_dict_add(want, "t", nb_contiguous(nb_transpose(tv, 0, 1)));
    assert_same_dict(want, back);
    nb_state_dict_free(back);
    nb_state_dict_free(want);
    nb_state_dict_free(sd);
    unlink(p);
}
END_TEST

START_TEST(test_safetensors_torch)
{
    const char *from_torch = tmp_path("torch.safetensors"), *from_c = tmp_path("c.safetensors");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, PYTHON " '%s/tests/ref_dtypes.py' write '%s' >/dev/null", NB_SRCDIR, from_torch);
    ck_assert_int_eq(system(cmd), 0);
    nb_state_dict *sd = st_dict(), *back;
    ck_assert_msg(nb_safetensors_load(from_torch, &back) == NB_OK, "%s", nb_last_error());
    assert_same_dict(sd, back);
    ck_assert_msg(nb_safetensors_save(sd, from_c) == NB_OK, "%s", nb_last_error());
    snprintf(cmd, sizeof cmd, PYTHON " '%s/tests/ref_dtypes.py' check '%s' >/dev/null", NB_SRCDIR, from_c);
    ck_assert_int_eq(system(cmd), 0);
    nb_state_dict_free(back);
    nb_state_dict_free(sd);
    unlink(from_torch);
    unlink(from_c);
}
END_TEST

/* ---- modules --------------------------------------------------------------------------------- */
START_TEST(test_module_to_dtype)
{
    nb_generator g;
    nb_generator_seed(&g, 16);
    nb_linear_mod *l = nb_linear_new(NULL, "fc", 3, 2, true, &g);
    nb_tensor *w = l->weight, *w0 = nb_clone(w);
    for (int k = 0; k < 2; k++) {
        nb_dtype dt = k_half[k];
        nb_module_to_dtype(&l->base, dt);
        ck_assert(l->weight == w && nb_tensor_dtype(w) == dt && nb_tensor_dtype(l->bias) == dt);
        nb_tensor *want = nb_to_dtype(w0, dt);
        ck_assert(!memcmp(nb_tensor_data(w), nb_tensor_data(want), 12));
        /* saved and loaded as such; loading into a float32 model converts */
        nb_state_dict *sd = nb_module_state_dict(&l->base), *back;
        const char *p = tmp_path("lin.safetensors");
        ck_assert(nb_safetensors_save(sd, p) == NB_OK);
        ck_assert(nb_safetensors_load(p, &back) == NB_OK);
        ck_assert(nb_tensor_dtype(nb_state_dict_get(back, "weight")) == dt);
        int depth = nb_scope_depth();
        char msg[96];
        snprintf(msg, sizeof msg, "%s is a storage-only dtype", nb_dtype_name(dt));
        TU_EXPECT_ERROR(msg, nb_linear_forward(l, nb_ones(NB_DIMS(1, 3), NB_F32)));
        nb_recover(depth);
        nb_module_to_dtype(&l->base, NB_F32);
        ck_assert(nb_tensor_dtype(w) == NB_F32);
        {
            double *wv = tu_values(nb_to_dtype(want, NB_F32));
            tu_assert_values_n(w, nb_tensor_numel(want), wv, 0);
            free(wv);
        }
        NB_NO_GRAD { nb_zero_(w); }
        ck_assert_msg(nb_module_load_state_dict(&l->base, back, true) == NB_OK, "%s", nb_last_error());
        {
            double *wv = tu_values(nb_to_dtype(want, NB_F32));
            tu_assert_values_n(w, nb_tensor_numel(want), wv, 0);
            free(wv);
        }
        NB_NO_GRAD { nb_copy_(w, w0); }
        nb_state_dict_free(sd);
        nb_state_dict_free(back);
        unlink(p);
    }
    nb_module_free(&l->base);
}
END_TEST

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/nb_dtypes.XXXXXX");
    if (!mkdtemp(g_dir))
        return 99;
    Suite *s = suite_create("dtypes");
    TCase *tc = tcase_create("conversions");
    tcase_add_checked_fixture(tc, tu_scope_setup, tu_scope_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_ref_bits);
    tcase_add_test(tc, test_exhaustive_round_trip);
    tcase_add_test(tc, test_exhaustive_ties);
    tcase_add_test(tc, test_storage);
    tcase_add_test(tc, test_print);
    tcase_add_test(tc, test_compute_misuse);
    tcase_add_test(tc, test_safetensors_round_trip);
    tcase_add_test(tc, test_module_to_dtype);
    tcase_add_test(tc, test_safetensors_torch);
    suite_add_tcase(s, tc);
    int rc = tu_run_suite(s);
    rmdir(g_dir);
    return rc;
}
