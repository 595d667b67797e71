#include "persistence/outbox_store.hpp"

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "persistence/mysql_connection.hpp"
#include "persistence/shard_layout.hpp"
#include "persistence/storage_target.hpp"

namespace txengine::persistence {

namespace {

outbox_error error_of(const sql::SQLException& e) { return outbox_error(std::string("MySQL: ") + e.what(), e.getErrorCode()); }

class mysql_outbox_scope : public outbox_thread_scope {
  mysql_thread_scope scope_;
};

class mysql_outbox_store : public outbox_store {
 public:
  mysql_outbox_store(const mysql_endpoint& endpoint, std::vector<std::string> tables, const outbox_share* share)
      : conn_(endpoint), tables_(std::move(tables)), share_(share) {}

  int64_t count_unpublished() override {
    try {
      int64_t total = 0;
      for (const auto& table : tables_)
        total += conn_.query_int("SELECT COUNT(*) FROM " + table + " WHERE published_ms=0" + mine());
      return total;
    } catch (const sql::SQLException& e) {
      throw error_of(e);
    }
  }

  std::vector<outbox_event> read_unpublished(uint32_t table, size_t known_count, size_t rows,
                                             const std::function<bool(uint64_t)>& known) override {
    std::vector<outbox_event> out;
    try {
      auto rs = conn_.query("SELECT event_id,topic,event_key,payload,created_ms FROM " + tables_.at(table) +
                            " WHERE published_ms=0" + mine() + " ORDER BY event_id LIMIT " +
                            std::to_string(known_count + rows));
      while (rs->next()) {
        uint64_t id = rs->getUInt64(1);
        if (known(id)) continue;
        if (out.size() == rows) break;
        out.push_back(outbox_event{id, rs->getString(2), rs->getString(3), rs->getString(4), rs->getInt64(5)});
      }
    } catch (const sql::SQLException& e) {
      throw error_of(e);
    }
    return out;
  }

  int64_t oldest_unpublished_created_ms(int64_t scan_rows) override {
    int64_t oldest = 0;
    try {
      for (const auto& table : tables_) {
        int64_t first = conn_.query_int("SELECT MIN(created_ms) FROM (SELECT created_ms FROM " + table +
                                        " WHERE published_ms=0" + mine() + " ORDER BY event_id LIMIT " +
                                        std::to_string(scan_rows) +
                                        ") x");
        if (first > 0 && (oldest == 0 || first < oldest)) oldest = first;
      }
    } catch (const sql::SQLException& e) {
      throw error_of(e);
    }
    return oldest;
  }

  int64_t mark_published(uint32_t table, const std::vector<uint64_t>& ids, int64_t now_ms) override {
    if (ids.empty()) return 0;
    std::string sql = "UPDATE " + tables_.at(table) + " SET published_ms=" + std::to_string(now_ms) + " WHERE event_id IN (";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i > 0) sql += ',';
      sql += std::to_string(ids[i]);
    }
    sql += ") AND published_ms=0";
    try {
      // Autocommit: a chunk marked stays marked even if a later one fails.
      if (!statement_) statement_.reset(conn_.raw().createStatement());
      return statement_->executeUpdate(sql);
    } catch (const sql::SQLException& e) {
      throw error_of(e);
    }
  }

  void delete_published_before(int64_t cutoff_ms, int64_t rows_max) override {
    try {
      for (const auto& table : tables_)
        conn_.execute("DELETE FROM " + table + " WHERE published_ms>0 AND published_ms<" + std::to_string(cutoff_ms) +
                      " LIMIT " + std::to_string(rows_max));
    } catch (const sql::SQLException& e) {
      throw error_of(e);
    }
  }

 private:
  //! The condition on unpublished rows: this node's share of them (none outside a cluster).
  std::string mine() const {
    if (share_ == nullptr || share_->partitions == 0) return {};
    std::vector<uint32_t> held = share_->held ? share_->held() : std::vector<uint32_t>();
    if (held.empty()) return " AND FALSE";
    std::string list;
    for (uint32_t p : held) list += (list.empty() ? "" : ",") + std::to_string(p);
    return " AND home_wallet % " + std::to_string(share_->partitions) + " IN (" + list + ")";
  }

  mysql_connection conn_;
  std::unique_ptr<sql::Statement> statement_;  //!< for the UPDATEs, whose row counts count
  std::vector<std::string> tables_;
  const outbox_share* share_;  //!< the connector's
};

class mysql_outbox_connector : public outbox_connector {
 public:
  mysql_outbox_connector(const storage_config& config, outbox_share share) : share_(std::move(share)) {
    shard_layout layout = layout_of(config);
    std::string why;
    if (!layout.valid(&why)) throw std::runtime_error(why);
    endpoint_ = endpoint_of(config);  // std::invalid_argument on a bad URI
    for (uint32_t d = 0; d < layout.databases; ++d)
      for (uint32_t t : layout.tables_in(d)) tables_.push_back(layout.table_at("outbox", d, t));
  }

  uint32_t tables() const override { return static_cast<uint32_t>(tables_.size()); }

  std::unique_ptr<outbox_thread_scope> enter_thread() const override { return std::make_unique<mysql_outbox_scope>(); }

  std::unique_ptr<outbox_store> connect() const override {
    try {
      return std::make_unique<mysql_outbox_store>(endpoint_, tables_, &share_);
    } catch (const sql::SQLException& e) {
      throw error_of(e);
    }
  }

 private:
  mysql_endpoint endpoint_;
  std::vector<std::string> tables_;  //!< every outbox table, `db`.`outbox_t`
  outbox_share share_;
};

}  // namespace

std::shared_ptr<const outbox_connector> mysql_outbox(const storage_config& config, outbox_share share) {
  return std::make_shared<mysql_outbox_connector>(config, std::move(share));
}

}  // namespace txengine::persistence
