#!/usr/bin/env bash
# Builds PigeonholeFFI.xcframework: the Rust static library for iOS devices,
# the iOS simulator (arm64 + x86_64, joined with lipo) and macOS (for
# `swift test` on the Mac), each with the generated C header and module map.
# Needs a Mac with Xcode and the Rust targets:
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios \
#       aarch64-apple-darwin x86_64-apple-darwin
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd .. && pwd)"
profile="${PROFILE:-mobile}"  # size-optimised release (Cargo.toml)
target_dir="${CARGO_TARGET_DIR:-$root/target}"
lib=libpigeonhole_ffi.a
build() { (cd "$root" && cargo build -p pigeonhole-ffi --lib --profile "$profile" --locked --target "$1"); }

for target in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios \
    aarch64-apple-darwin x86_64-apple-darwin; do
    build "$target"
done
dir="$profile"; [[ "$profile" == dev ]] && dir=debug

out="$(mktemp -d)"
mkdir -p "$out/sim" "$out/mac"
lipo -create "$target_dir/aarch64-apple-ios-sim/$dir/$lib" "$target_dir/x86_64-apple-ios/$dir/$lib" \
    -output "$out/sim/$lib"
lipo -create "$target_dir/aarch64-apple-darwin/$dir/$lib" "$target_dir/x86_64-apple-darwin/$dir/$lib" \
    -output "$out/mac/$lib"

rm -rf PigeonholeFFI.xcframework
xcodebuild -create-xcframework \
    -library "$target_dir/aarch64-apple-ios/$dir/$lib" -headers Headers \
    -library "$out/sim/$lib" -headers Headers \
    -library "$out/mac/$lib" -headers Headers \
    -output PigeonholeFFI.xcframework
rm -rf "$out"
echo "built ios/PigeonholeFFI.xcframework"
