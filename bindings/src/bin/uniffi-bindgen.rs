//! The uniffi generator, built from the same uniffi version as the library
//! (`--features cli`); scripts/generate-bindings runs it.

fn main() {
    uniffi::uniffi_bindgen_main()
}
