#[test]
fn mem_kv_passes_the_conformance_suite() {
    balsa_storage::testing::kv_conformance(balsa_storage::MemKv::new);
}
