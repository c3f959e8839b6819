// Uses the public API the way the README shows; exits non-zero on any mismatch.
#include <sddb/sddb.h>

#include <cstdio>

int main() {
  auto db = sddb::superduper("sqlite://:memory:");
  auto docs = sddb::Collection("docs");
  db->execute(
      docs.insert_many({sddb::Value{{"n", 1}}, sddb::Value{{"n", 2}}, sddb::Value{{"n", 3}}}));
  auto found = db->execute(docs.find({{"n", {{"$gte", 2}}}}).sort("n", -1).limit(10)).to_vector();
  if (found.size() != 2 || found[0].find("n")->as_int() != 3) {
    std::fprintf(stderr, "unexpected result\n");
    return 1;
  }
  std::printf("consumer ok: %zu documents\n", found.size());
  return 0;
}
