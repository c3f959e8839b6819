// The `sddb` command: documents in and out of an sddb database from the shell.
//
// Exit codes: 0 success, 1 an sddb error (printed as "sddb: error: <code>: <message>"),
// 2 a usage error (unknown option, missing argument, bad --sort ...).

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include "commands.h"
#include "sddb/error.h"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

void print_error(std::string_view code, std::string_view message) {
  // One line, whatever the message holds, so `2>err; cat err` and log scrapers see one record.
  std::string line = "sddb: error: " + std::string(code) + ": ";
  for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

// Subcommand help does not list the options of the main command, so each footer names them.
std::string footer(const std::string& examples) {
  return examples +
         "\n\nEvery command also takes --db URI (default: $SDDB_DATA_BACKEND, then sddb.toml, "
         "then\n"
         "sqlite://.sddb/data.db) and --config FILE, before or after the subcommand.\n";
}

std::string help_hint(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) {
    return " (see 'sddb " + sub->get_name() + " --help')";
  }
  return " (see 'sddb --help')";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sddb::cli;

  CLI::App app{
      "sddb: store and query JSON documents in an sddb database.\n"
      "The database is --db URI, else $SDDB_DATA_BACKEND, else sddb.toml, else the embedded\n"
      "default sqlite://.sddb/data.db in the current folder.",
      "sddb"};
  app.require_subcommand(1);
  app.fallthrough();  // --db and --config may come before or after the subcommand
  app.footer(
      "Examples:\n"
      "  sddb --db sqlite://./data.db insert docs docs.jsonl\n"
      "  sddb find docs '{\"size\": {\"$gt\": 1000}}' --sort size:-1 --limit 5\n"
      "Exit status: 0 success, 1 error, 2 usage error.");

  GlobalOptions global;
  app.add_option("--db", global.db, "Database URI, e.g. sqlite://./data.db (overrides the config)");
  app.add_option("--config", global.config, "Config file to read instead of ./sddb.toml");

  // --- insert
  InsertOptions insert;
  CLI::App* insert_cmd = app.add_subcommand(
      "insert",
      "Insert documents from a JSON lines file (one JSON object per line; blank lines are\n"
      "skipped). Documents without _id get a fresh one. Each batch of --batch-size documents\n"
      "is one transaction: a malformed line or a duplicate _id stops the import with an error\n"
      "naming the line, nothing of that batch is stored, and earlier batches stay inserted.\n"
      "Prints {\"inserted\": N}. Shows progress on stderr when it is a terminal.");
  insert_cmd->add_option("COLLECTION", insert.collection, "Collection to insert into")->required();
  insert_cmd->add_option("FILE", insert.file, "JSON lines file, or - for stdin")->required();
  insert_cmd->add_option("--batch-size", insert.batch_size,
                         "Documents per transaction (default 1000)");
  insert_cmd->footer(
      footer("Examples:\n"
             "  sddb insert docs docs.jsonl\n"
             "  printf '{\"name\": \"a\"}\\n{\"name\": \"b\"}\\n' | sddb insert docs -"));

  // --- find
  FindOptions find;
  CLI::App* find_cmd = app.add_subcommand(
      "find", "Print the documents matching a MongoDB filter, one compact JSON document per line.");
  find_cmd->add_option("COLLECTION", find.collection, "Collection to read")->required();
  find_cmd->add_option("FILTER", find.filter, "MongoDB filter as JSON (default {}: all)");
  find_cmd
      ->add_option("--sort", find.sort,
                   "PATH or PATH:-1 (descending); repeat for more keys, first is primary")
      ->allow_extra_args(false);
  find_cmd->add_option("--limit", find.limit, "At most N documents (0: no limit)");
  find_cmd->add_option("--skip", find.skip, "Skip the first N documents");
  find_cmd->add_option("--projection", find.projection,
                       "MongoDB projection as JSON, e.g. '{\"name\": 1, \"_id\": 0}'");
  find_cmd->footer(
      footer("Examples:\n"
             "  sddb find docs\n"
             "  sddb find docs '{\"section\": \"games\", \"size\": {\"$lt\": 100000}}' \\\n"
             "      --sort size:-1 --sort name --limit 10 --projection '{\"name\": 1}'"));

  // --- update
  UpdateOptions update;
  CLI::App* update_cmd = app.add_subcommand(
      "update",
      "Update the documents matching FILTER with an update document ($set $unset $inc $push\n"
      "$pull). An UPDATE without operators replaces one document (needs --one).\n"
      "Prints {\"matched\": M, \"modified\": N} (and \"upserted_id\" when one was inserted).");
  update_cmd->add_option("COLLECTION", update.collection, "Collection to update")->required();
  update_cmd->add_option("FILTER", update.filter, "MongoDB filter as JSON")->required();
  update_cmd->add_option("UPDATE", update.update, "Update document as JSON")->required();
  update_cmd->add_flag("--one", update.one, "Update only the first matching document");
  update_cmd->add_flag("--upsert", update.upsert, "Insert a document when nothing matches");
  update_cmd->footer(
      footer("Examples:\n"
             "  sddb update docs '{\"name\": \"a\"}' '{\"$inc\": {\"views\": 1}}'\n"
             "  sddb update docs '{\"name\": \"c\"}' '{\"$set\": {\"size\": 3}}' --one --upsert"));

  // --- delete
  DeleteOptions del;
  CLI::App* delete_cmd = app.add_subcommand(
      "delete", "Delete the documents matching FILTER ({} deletes all). Prints {\"deleted\": N}.");
  delete_cmd->add_option("COLLECTION", del.collection, "Collection to delete from")->required();
  delete_cmd->add_option("FILTER", del.filter, "MongoDB filter as JSON")->required();
  delete_cmd->add_flag("--one", del.one, "Delete only the first matching document");
  delete_cmd->footer(
      footer("Example:\n"
             "  sddb delete docs '{\"size\": {\"$gt\": 1000000}}'"));

  // --- count
  std::string count_collection, count_filter;
  CLI::App* count_cmd =
      app.add_subcommand("count", "Count the documents matching FILTER. Prints {\"count\": N}.");
  count_cmd->add_option("COLLECTION", count_collection, "Collection to count")->required();
  count_cmd->add_option("FILTER", count_filter, "MongoDB filter as JSON (default {}: all)");
  count_cmd->footer(
      footer("Example:\n"
             "  sddb count docs '{\"tags\": {\"$in\": [\"red\", \"blue\"]}}'"));

  // --- collections
  CLI::App* collections_cmd =
      app.add_subcommand("collections", "List the collections, one name per line, sorted.");
  collections_cmd->footer(footer("Example:\n  sddb collections --db sqlite://./data.db"));

  // --- create-index
  std::string index_collection, index_path;
  CLI::App* index_cmd = app.add_subcommand(
      "create-index",
      "Index a dotted path so that filters and sorts on it avoid a full scan. Idempotent.\n"
      "Prints {\"collection\": C, \"index\": PATH}.");
  index_cmd->add_option("COLLECTION", index_collection, "Collection to index")->required();
  index_cmd->add_option("PATH", index_path, "Dotted field path, e.g. size or meta.author")
      ->required();
  index_cmd->footer(footer("Example:\n  sddb create-index docs meta.author"));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      return app.exit(e);  // --help
    }
    print_error("usage", std::string(e.what()) + help_hint(app));
    return kExitUsage;
  }

  try {
    auto db = open_db(global);
    if (insert_cmd->parsed()) run_insert(*db, insert);
    if (find_cmd->parsed()) run_find(*db, find);
    if (update_cmd->parsed()) run_update(*db, update);
    if (delete_cmd->parsed()) run_delete(*db, del);
    if (count_cmd->parsed()) run_count(*db, count_collection, count_filter);
    if (collections_cmd->parsed()) run_collections(*db);
    if (index_cmd->parsed()) run_create_index(*db, index_collection, index_path);
  } catch (const UsageError& e) {
    print_error("usage", std::string(e.what()) + help_hint(app));
    return kExitUsage;
  } catch (const sddb::Error& e) {
    print_error(sddb::to_string(e.code()), e.what());
    return kExitError;
  } catch (const std::exception& e) {
    print_error("internal", e.what());
    return kExitError;
  }
  return 0;
}
