fn main() {
    // A vendored protoc, so a fresh machine needs no system package for it.
    if std::env::var_os("PROTOC").is_none() {
        let protoc = protoc_bin_vendored::protoc_bin_path().expect("vendored protoc");
        // SAFETY: build scripts are single-threaded.
        unsafe { std::env::set_var("PROTOC", protoc) };
    }
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos(&["proto/transport.proto"], &["proto"])
        .expect("compile transport.proto");
    println!("cargo:rerun-if-changed=proto/transport.proto");
}
