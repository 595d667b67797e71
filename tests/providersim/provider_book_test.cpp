// txprovider-sim's provider without HTTP: the book's rules (one order per id, close, fates
// drawn from the seed), the profile file, the callbacks' plan, the signatures and the journal.
#include <filesystem>
#include <fstream>
#include <set>

#include <unistd.h>

#include <gtest/gtest.h>

#include "providersim/callbacks.hpp"
#include "providersim/journal.hpp"
#include "providersim/profile.hpp"
#include "providersim/provider_book.hpp"
#include "providersim/signing.hpp"

using namespace txprovider;

namespace {

submit_request payout(const std::string& id, int64_t amount = 1000) { return {id, order_kind::payout, amount, "USD"}; }
submit_request payment(const std::string& id, int64_t amount = 1000) { return {id, order_kind::payment, amount, "USD"}; }

profile settle_in(int64_t ms) {
  profile p;
  p.settle_min_ms = p.settle_max_ms = ms;
  return p;
}

}  // namespace

TEST(ProviderBook, AnOrderIsProcessingUntilItSettlesThenFinal) {
  provider_book book(settle_in(100));
  auto r = book.submit(payout("p1"), 1'000);
  EXPECT_EQ(r.outcome, submit_outcome::accepted);
  ASSERT_TRUE(r.recorded);
  EXPECT_EQ(r.view.status, order_status::processing);
  EXPECT_EQ(book.query("p1", 1'099)->status, order_status::processing);
  auto done = book.query("p1", 1'100);
  EXPECT_EQ(done->status, order_status::succeeded);
  EXPECT_EQ(done->settled_amount, 1000);
  EXPECT_EQ(done->finished_ms, 1'100);
  EXPECT_FALSE(book.query("nope", 1'100));
}

TEST(ProviderBook, ASubmitOfAKnownIdIsAnsweredNeverProcessedAgain) {
  provider_book book(settle_in(0));
  book.submit(payout("p1"), 1'000);
  auto again = book.submit(payout("p1"), 2'000);
  EXPECT_EQ(again.outcome, submit_outcome::existing);
  EXPECT_FALSE(again.recorded);
  EXPECT_EQ(again.view.status, order_status::succeeded);
  EXPECT_EQ(book.size(), 1u);
  EXPECT_EQ(book.submit(payout("p1", 999), 2'000).outcome, submit_outcome::conflict);
  EXPECT_EQ(book.submit(payment("p1"), 2'000).outcome, submit_outcome::conflict);
  auto other_currency = payout("p1");
  other_currency.currency = "EUR";
  EXPECT_EQ(book.submit(other_currency, 2'000).outcome, submit_outcome::conflict);
}

TEST(ProviderBook, AnIdClosedBeforeItArrivedIsNeverPaid) {
  provider_book book(settle_in(0));
  auto c = book.close("late", 1'000);
  EXPECT_EQ(c.view.status, order_status::closed);
  ASSERT_TRUE(c.recorded);
  EXPECT_TRUE(c.recorded->tombstone);
  auto s = book.submit(payment("late"), 2'000);
  EXPECT_EQ(s.outcome, submit_outcome::existing);
  EXPECT_EQ(s.view.status, order_status::closed);
  EXPECT_EQ(book.query("late", 9'000)->status, order_status::closed);
}

TEST(ProviderBook, APaymentNotYetPaidClosesAPaidOneAndAPayoutDoNot) {
  provider_book book(settle_in(100));
  book.submit(payment("in"), 1'000);
  auto c = book.close("in", 1'050);
  EXPECT_EQ(c.view.status, order_status::closed);
  EXPECT_TRUE(c.recorded);
  EXPECT_EQ(book.query("in", 5'000)->status, order_status::closed);  // the payer came too late

  book.submit(payment("paid"), 1'000);
  auto late = book.close("paid", 1'100);
  EXPECT_EQ(late.view.status, order_status::succeeded);
  EXPECT_FALSE(late.recorded);

  book.submit(payout("out"), 1'000);
  auto out = book.close("out", 1'050);
  EXPECT_EQ(out.view.status, order_status::processing);  // on its way: cannot be called back
  EXPECT_FALSE(out.recorded);
  EXPECT_EQ(book.query("out", 1'100)->status, order_status::succeeded);
}

TEST(ProviderBook, FatesFollowTheSeedAndTheIdNotTheArrivalOrder) {
  profile p = settle_in(0);
  p.decline_ppm = 300'000;
  p.partial_ppm = 200'000;
  p.processing_forever_ppm = 100'000;
  provider_book a(p), b(p);
  std::map<order_status, int> seen;
  int partial = 0;
  for (int i = 0; i < 2000; ++i) a.submit(payout("o" + std::to_string(i)), 0);
  for (int i = 1999; i >= 0; --i) b.submit(payout("o" + std::to_string(i)), 0);
  for (int i = 0; i < 2000; ++i) {
    auto id = "o" + std::to_string(i);
    auto va = *a.query(id, 1), vb = *b.query(id, 1);
    EXPECT_EQ(va.status, vb.status) << id;
    EXPECT_EQ(va.settled_amount, vb.settled_amount) << id;
    EXPECT_EQ(va.code, vb.code) << id;
    ++seen[va.status];
    if (va.status == order_status::succeeded && va.settled_amount < 1000) {
      ++partial;
      EXPECT_GE(va.settled_amount, 1);
    }
    if (va.status == order_status::declined) {
      EXPECT_FALSE(va.code.empty());
    }
  }
  // About 10% for ever, 27% declined, the rest paid, a fifth of those partly (wide bounds).
  EXPECT_NEAR(seen[order_status::processing], 200, 60);
  EXPECT_NEAR(seen[order_status::declined], 540, 90);
  EXPECT_NEAR(partial, 250, 70);
  p.seed = 2;
  provider_book c(p);
  int differ = 0;
  for (int i = 0; i < 200; ++i) {
    auto id = "o" + std::to_string(i);
    c.submit(payout(id), 0);
    differ += c.query(id, 1)->status != a.query(id, 1)->status;
  }
  EXPECT_GT(differ, 20) << "another seed draws other fates";
}

TEST(ProviderBook, APayerWhoNeverPaysLeavesThePaymentProcessingUntilClosed) {
  profile p = settle_in(10);
  p.payer_pays_ppm = 0;
  provider_book book(p);
  book.submit(payment("qr"), 0);
  EXPECT_EQ(book.query("qr", 1'000'000)->status, order_status::processing);
  EXPECT_EQ(book.next_final_ms(), never);
  EXPECT_EQ(book.close("qr", 1'000'000).view.status, order_status::closed);
}

TEST(ProviderBook, EveryOrderIsReportedFinalOnceWhenItsTimeComes) {
  provider_book book(settle_in(100));
  book.submit(payout("a"), 0);
  book.submit(payment("b"), 50);
  book.submit(payment("c"), 60);
  EXPECT_EQ(book.next_final_ms(), 100);
  EXPECT_TRUE(book.newly_final(99).empty());
  book.close("c", 70);  // reported at its close, not again at 160
  auto first = book.newly_final(100);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].id, "c");
  EXPECT_EQ(first[0].status, order_status::closed);
  EXPECT_EQ(first[1].id, "a");
  auto second = book.newly_final(1'000);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].id, "b");
  EXPECT_TRUE(book.newly_final(10'000).empty());
  EXPECT_EQ(book.next_final_ms(), never);
}

TEST(ProviderBook, AFullBookRefusesNewOrdersAndStillAnswersKnownOnes) {
  profile p = settle_in(0);
  p.orders_max = 2;
  provider_book book(p);
  book.submit(payout("a"), 0);
  book.submit(payout("b"), 0);
  auto r = book.submit(payout("c"), 0);
  EXPECT_EQ(r.outcome, submit_outcome::full);
  EXPECT_FALSE(r.recorded);
  EXPECT_EQ(book.size(), 2u);
  EXPECT_EQ(book.submit(payout("a"), 0).outcome, submit_outcome::existing);
}

TEST(ProviderBook, AStatementListsTheOrdersFinishedThatDay) {
  provider_book book(settle_in(0));
  const int64_t day = 86'400'000;
  book.submit(payout("yesterday"), day - 1);
  book.submit(payout("today"), day);
  book.submit(payout("today2"), 2 * day - 1);
  book.close("closed-unseen", day + 5);  // a tombstone moved no money: not on the statement
  auto rows = book.finished_between(day, 2 * day, 3 * day);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].id, "today");
  EXPECT_EQ(rows[1].id, "today2");
}

TEST(ProviderBook, OrderIdsAndCurrenciesAreChecked) {
  EXPECT_TRUE(valid_order_id("Abc_1-2"));
  EXPECT_FALSE(valid_order_id(""));
  EXPECT_FALSE(valid_order_id(std::string(65, 'a')));
  EXPECT_FALSE(valid_order_id("a/b"));
  EXPECT_FALSE(valid_order_id("a b"));
  EXPECT_TRUE(valid_currency("USD"));
  EXPECT_FALSE(valid_currency("usd"));
  EXPECT_FALSE(valid_currency("USDT"));
}

TEST(ProviderProfile, EveryKeyIsReadAndCheckedAndUnknownOnesRefused) {
  profile p;
  std::string error;
  ASSERT_TRUE(parse_profile(R"(
seed = 7
[latency]
min_ms = 2
max_ms = 9
slow_ppm = 1000
slow_ms = 700
[outcome]
settle_min_ms = 10
settle_max_ms = 20
decline_ppm = 50000
decline_codes = ["insufficient_funds", "card_blocked"]
partial_ppm = 3
processing_forever_ppm = 4
payer_pays_ppm = 800000
[transport]
error_before_ppm = 5
error_after_ppm = 6
drop_ppm = 7
hang_ppm = 8
hang_ms = 900
qps_limit = 100
[callbacks]
url = "http://127.0.0.1:9000/cb"
lost_ppm = 9
duplicate_ppm = 10
stale_ppm = 11
delay_min_ms = 12
delay_max_ms = 13
retries = 3
[auth]
api_key = "k"
secret = "s"
max_clock_skew_ms = 60000
[limits]
orders_max = 1000
retention_ms = 7200000
)",
                            p, error))
      << error;
  EXPECT_EQ(p.seed, 7u);
  EXPECT_EQ(p.latency_max_ms, 9);
  EXPECT_EQ(p.decline_codes.size(), 2u);
  EXPECT_EQ(p.payer_pays_ppm, 800'000u);
  EXPECT_EQ(p.qps_limit, 100u);
  EXPECT_EQ(p.callback_url, "http://127.0.0.1:9000/cb");
  EXPECT_EQ(p.callback_retries, 3u);
  EXPECT_EQ(p.orders_max, 1000u);
  EXPECT_EQ(p.retention_ms, 7'200'000);

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"[outcome]\ndecline_ppm = 1000001", "[outcome] decline_ppm: expects 0 .. 1000000"},
      {"[outcome]\ndecline_ppm = \"5\"", "expects an integer"},
      {"[outcome]\ndecline_codes = []", "non-empty list"},
      {"[latency]\nmin_ms = 5\nmax_ms = 4", "min_ms is above max_ms"},
      {"[latency]\nmin_ms = -1", "expects 0 .."},
      {"[transport]\nqps = 3", "[transport] unknown key 'qps'"},
      {"[nope]\na = 1", "unknown section [nope]"},
      {"colour = 1", "unknown key 'colour'"},
      {"[callbacks]\nurl = \"https://x/cb\"", "must start with http://"},
      {"[auth]\nsecret = \"\"", "must not be empty"},
      {"[auth]\nsecret_file = \"/nonexistent/secret\"", "readable file"},
      {"[latency\n", "line 1"},
      {"[latency]\nmin_ms = 1 \xc3\xa9", "line 2: byte 195 (a profile is ASCII"},
      {"[\x12]", "line 1: byte 18"},
  };
  for (const auto& [text, expected] : bad) {
    profile q;
    q.seed = 99;
    std::string why;
    EXPECT_FALSE(parse_profile(text, q, why)) << text;
    EXPECT_NE(why.find(expected), std::string::npos) << text << " -> " << why;
    EXPECT_EQ(q.seed, 99u) << "a refused profile changes nothing";
  }
}

TEST(ProviderProfile, EveryShippedProfileLoads) {
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(TXENGINE_SOURCE_DIR) + "/config/provider-sim")) {
    profile p;
    std::string error;
    EXPECT_TRUE(load_profile(entry.path().string(), p, error)) << error;
    ++loaded;
  }
  EXPECT_GE(loaded, 5);
}

TEST(ProviderProfile, TheSecretCanComeFromAFile) {
  auto path = std::filesystem::temp_directory_path() / ("txsim_secret_" + std::to_string(::getpid()));
  std::ofstream(path) << "from-file\nignored\n";
  profile p;
  std::string error;
  ASSERT_TRUE(parse_profile("[auth]\nsecret_file = \"" + path.string() + "\"\n", p, error)) << error;
  EXPECT_EQ(p.secret, "from-file");
  std::filesystem::remove(path);
}

TEST(ProviderCallbacks, LostLateDuplicatedAndStaleFollowTheProfile) {
  profile p;
  order_view v{"x", order_kind::payout, 100, "USD", order_status::succeeded, 100, "", 50};
  EXPECT_TRUE(plan_callbacks(p, v, 50).empty()) << "no url: no callbacks";
  p.callback_url = "http://127.0.0.1:1/cb";
  auto one = plan_callbacks(p, v, 50);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].due_ms, 50);
  EXPECT_EQ(one[0].view.status, order_status::succeeded);
  p.callback_lost_ppm = 1'000'000;
  EXPECT_TRUE(plan_callbacks(p, v, 50).empty());
  p.callback_lost_ppm = 0;
  p.callback_duplicate_ppm = p.callback_stale_ppm = 1'000'000;
  p.callback_delay_min_ms = 100;
  p.callback_delay_max_ms = 200;
  auto all = plan_callbacks(p, v, 50);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].event_id, all[1].event_id) << "a duplicate is the same event";
  for (int i = 0; i < 2; ++i) {
    EXPECT_GE(all[i].due_ms, 150);
    EXPECT_LE(all[i].due_ms, 250);
  }
  EXPECT_EQ(all[2].view.status, order_status::processing);
  EXPECT_GT(all[2].due_ms, all[0].due_ms) << "the stale one comes after the final one";
  EXPECT_NE(all[2].event_id, all[0].event_id);
}

TEST(ProviderCallbacks, AFailedDeliveryIsTriedAgainWithBackoffThenGivenUp) {
  profile p;
  p.callback_retries = 3;
  callback_delivery d;
  std::vector<int64_t> waits;
  int64_t now = 0;
  while (retry_callback(p, d, now)) {
    waits.push_back(d.due_ms - now);
    now = d.due_ms;
  }
  EXPECT_EQ(waits, (std::vector<int64_t>{1'000, 2'000, 4'000}));
  p.callback_retries = 20;
  callback_delivery e;
  int64_t last = 0;
  while (retry_callback(p, e, 0)) last = e.due_ms;
  EXPECT_EQ(last, 60'000) << "backoff stops at a minute";
}

TEST(ProviderSigning, HmacSha256MatchesTheRfc4231Vector) {
  // RFC 4231, test case 2.
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(signing_string("POST", "/v1/payouts", 12, "{}"), "POST\n/v1/payouts\n12\n{}");
  EXPECT_TRUE(same_signature("abc", "abc"));
  EXPECT_FALSE(same_signature("abc", "abd"));
  EXPECT_FALSE(same_signature("abc", "ab"));
}

namespace {
struct temp_dir {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("txsim_journal_" + std::to_string(::getpid()) + "_" +
                                ::testing::UnitTest::GetInstance()->current_test_info()->name());
  temp_dir() { std::filesystem::remove_all(path); }
  ~temp_dir() { std::filesystem::remove_all(path); }
};
}  // namespace

TEST(ProviderJournal, AReopenedJournalRemembersEveryOrderAndItsClose) {
  temp_dir dir;
  profile p = settle_in(100);
  std::string error;
  {
    provider_book book(p);
    auto j = journal::open(dir.path.string(), book, 0, error);
    ASSERT_TRUE(j) << error;
    auto a = book.submit(payout("a", 500), 10);
    auto b = book.submit(payment("b"), 20);
    auto c = book.close("b", 30);
    auto t = book.close("ghost", 40);
    uint64_t last = 0;
    for (const auto* o : {&*a.recorded, &*b.recorded, &*c.recorded, &*t.recorded}) last = j->append(*o, 40);
    ASSERT_TRUE(j->wait_durable(last));
  }
  provider_book again(p);
  auto j = journal::open(dir.path.string(), again, 50, error);
  ASSERT_TRUE(j) << error;
  EXPECT_EQ(j->restored(), 3u);
  EXPECT_EQ(again.query("a", 200)->status, order_status::succeeded);
  EXPECT_EQ(again.query("a", 200)->settled_amount, 500);
  EXPECT_EQ(again.query("b", 200)->status, order_status::closed);
  EXPECT_EQ(again.submit(payment("ghost"), 60).view.status, order_status::closed);
  // "a" settles at 110, after the journal's last record (40): reported after the restart.
  auto finals = again.newly_final(200);
  ASSERT_EQ(finals.size(), 1u);
  EXPECT_EQ(finals[0].id, "a");
}

TEST(ProviderJournal, ATornLastLineIsDroppedAnyOtherBadLineStopsTheStart) {
  temp_dir dir;
  std::filesystem::create_directories(dir.path);
  provider_order o;
  o.id = "a";
  o.currency = "USD";
  o.amount = 5;
  o.fate = order_status::succeeded;
  o.settles_ms = 1;
  o.settled_amount = 5;
  std::string good = encode_order(o, 1);
  std::string error;
  {
    std::ofstream(dir.path / "journal.jsonl") << good << good.substr(0, good.size() / 2);
    provider_book book(profile{});
    auto j = journal::open(dir.path.string(), book, 2, error);
    ASSERT_TRUE(j) << error;
    EXPECT_EQ(j->torn_lines(), 1u);
    EXPECT_EQ(book.size(), 1u);
  }
  {
    std::ofstream(dir.path / "journal.jsonl") << good << "{\"garbage\": 1}\n" << good;
    provider_book book(profile{});
    EXPECT_FALSE(journal::open(dir.path.string(), book, 2, error));
    EXPECT_NE(error.find("line 2"), std::string::npos) << error;
  }
}

TEST(ProviderJournal, CompactionForgetsFinalOrdersPastRetentionOnly) {
  temp_dir dir;
  profile p = settle_in(0);
  p.retention_ms = 3'600'000;
  std::string error;
  {
    provider_book book(p);
    auto j = journal::open(dir.path.string(), book, 0, error);
    ASSERT_TRUE(j) << error;
    p.payer_pays_ppm = 0;
    uint64_t seq = j->append(*book.submit(payout("old"), 0).recorded, 0);
    seq = j->append(*book.submit(payout("recent"), 7'000'000).recorded, 7'000'000);
    provider_book unpaid(p);
    seq = j->append(*unpaid.submit(payment("open"), 0).recorded, 7'000'000);
    ASSERT_TRUE(j->wait_durable(seq));
  }
  provider_book again(p);
  auto j = journal::open(dir.path.string(), again, 8'000'000, error);
  ASSERT_TRUE(j) << error;
  EXPECT_FALSE(again.query("old", 8'000'000));
  EXPECT_TRUE(again.query("recent", 8'000'000));
  EXPECT_EQ(again.query("open", 8'000'000)->status, order_status::processing) << "never forgets an open order";
}
