#!/usr/bin/env bash
# Builds libpigeonhole_ffi.so for every Android ABI into src/main/jniLibs,
# with cargo-ndk. Needs the Android NDK (ANDROID_NDK_HOME) and the Rust
# targets; none of that is on the Linux machine that runs the tests.
#   rustup target add aarch64-linux-android armv7-linux-androideabi \
#       x86_64-linux-android i686-linux-android
#   cargo install cargo-ndk
set -euo pipefail
cd "$(dirname "$0")"
profile="${PROFILE:-mobile}"  # size-optimised release (Cargo.toml)
cargo ndk \
    -t arm64-v8a -t armeabi-v7a -t x86_64 -t x86 \
    --platform 24 \
    -o src/main/jniLibs \
    build -p pigeonhole-ffi --lib --profile "$profile" --locked
echo "built: $(find src/main/jniLibs -name 'libpigeonhole_ffi.so' | sort | tr '\n' ' ')"
