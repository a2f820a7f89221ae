// libFuzzer's entry for programs that have a main of their own (in compiler-rt since LLVM 11).
// SwiftPM links every executable target with its `main` renamed to `<Target>_main`, which would
// replace libFuzzer's `main`; each target's `<Target>_main` calls this instead.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int * _Nonnull argc, char * _Nullable * _Nonnull * _Nonnull argv,
                        int (* _Nonnull callback)(const uint8_t * _Nonnull data, size_t size));
