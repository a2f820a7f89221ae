// Only the header matters: libFuzzer itself comes from the toolchain with -sanitize=fuzzer.
#include "CLibFuzzer.h"
