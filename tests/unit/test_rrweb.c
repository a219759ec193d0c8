/* rrweb: node decisions, incremental events and the journey, end to end
 * through engine_redact with a policy loaded from YAML. Payloads are written
 * with ' for " for readability; outputs are re-read with the oracle. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "crypto/keyfile.h"
#include "crypto/pseudo.h"
#include "rules/conf.h"
#include "rules/engine.h"
#include "leak.h"
#include "oracle.h"

static const char yaml[] = "tenants:\n"
                           "  - {id: t, policy: p, pseudonym_key: unused.pseudonym}\n"
                           "policies:\n"
                           "  p:\n"
                           "    inputs:\n"
                           "      allow: ['[name=plan]', '#pw']\n"
                           "      allow_types: [radio]\n"
                           "    text: ['.secret-text', '.profile span']\n"
                           "    block: ['.ad']\n"
                           "    journey:\n"
                           "      name: loan\n"
                           "      steps:\n"
                           "        - {name: personal, url: /apply/personal}\n"
                           "        - {name: review, event: review}\n"
                           "      complete: {url: /apply/done}\n"
                           "  open:\n"
                           "    allow_data_urls: true\n";

static const char *const canaries[] = {
    "4111 1111 1111 1111",  "4111111111111111", "078-05-1120",
    "jane.doe@example.com", "hunter2",          "Jane Q. Example"};

struct fixture {
    struct config *conf;
    struct pseudo_key *key;
    struct pii_scanner *scanner;
    struct arena *arena;
    struct buf out, ctx;
    struct redact_report rep;
    struct err err;
    char in[8192];
    long fail_after; /* the allocation that fails inside engine_redact; -1: none */
};

static struct fixture fx = {.fail_after = -1};

static int group_setup(void **state)
{
    uint8_t k[32];

    (void)state;
    if (keyfile_crypto_init() != 0)
        return -1;
    memset(k, 7, sizeof(k));
    fx.key = pseudo_key_from_bytes(k);
    err_clear(&fx.err);
    fx.conf = conf_parse("test.yaml", yaml, sizeof(yaml) - 1, &fx.err);
    if (fx.conf == NULL) {
        fprintf(stderr, "%s\n", fx.err.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    conf_free(fx.conf);
    pseudo_key_free(fx.key);
    return 0;
}

/* Run payload q (with ' for ") under policy pol; returns the status. */
static enum redact_status run(const char *pol, const char *q)
{
    const struct policy *p = conf_policy_by_name(fx.conf, pol);
    struct redact_env env = {p, NULL,  json_default_limits, pseudo_engine_fn, fx.key, NULL, &fx.ctx,
                             0, {0, 0}};
    size_t n = strlen(q);
    enum redact_status st;

    assert_non_null(p);
    assert_true(n < sizeof(fx.in));
    for (size_t i = 0; i <= n; i++)
        fx.in[i] = q[i] == '\'' ? '"' : q[i];
    env.scanner = fx.scanner = pii_scanner_new(p->pii, NULL);
    fx.arena = arena_new(0);
    buf_init(&fx.out, 0);
    buf_init(&fx.ctx, 0);
    err_clear(&fx.err);
    mem_fail_after(fx.fail_after);
    st = engine_redact(&env, fx.arena, FORMAT_RRWEB, fx.in, n, &fx.out, &fx.rep, &fx.err);
    mem_fail_after(-1);
    return st;
}

static void done(void)
{
    pii_scanner_free(fx.scanner);
    arena_free(fx.arena);
    buf_free(&fx.out);
    buf_free(&fx.ctx);
}

static void assert_no_canary(const struct buf *b)
{
    for (size_t i = 0; b->len && i < sizeof(canaries) / sizeof(canaries[0]); i++)
        if (memmem(b->data, b->len, canaries[i], strlen(canaries[i])) != NULL)
            fail_msg("canary %zu survived", i);
}

static uint64_t count_of(const char *id)
{
    for (size_t i = 0; i < fx.rep.nrules; i++)
        if (strcmp(fx.rep.rules[i].id, id) == 0)
            return fx.rep.rules[i].count;
    fail_msg("no rule %s", id);
    return 0;
}

#define OUT_STR(path)  oracle_string(fx.out.data, fx.out.len, path)
#define OUT_SIZE(path) oracle_size(fx.out.data, fx.out.len, path)
#define OUT_KIND(path) oracle_kind(fx.out.data, fx.out.len, path)
/* The n-th child of <body> in the full snapshot (event 1). */
#define BODY(n, rest) "events.1.data.node.childNodes.0.childNodes.0.childNodes." #n rest
/* Event n's data. */
#define EV(n, rest) "events." #n ".data" rest

static const char session[] =
    "{'session_id':'sess-1','events':["
    "{'type':4,'timestamp':1000,'data':{'href':'https://ex.com/apply/personal?e=jane.doe@"
    "example.com','width':1280,'height':800}},"
    "{'type':2,'timestamp':1001,'data':{'node':{'type':0,'id':1,'childNodes':["
    "{'type':2,'id':2,'tagName':'html','attributes':{},'childNodes':["
    "{'type':2,'id':3,'tagName':'body','attributes':{},'childNodes':["
    "{'type':2,'id':10,'tagName':'input','attributes':{'name':'card','value':'4111 1111 1111 "
    "1111','placeholder':'Card number','title':'Your card','aria-label':'card'},'childNodes':[]},"
    "{'type':2,'id':11,'tagName':'input','attributes':{'type':'hidden','name':'token','value':"
    "'abc123'},'childNodes':[]},"
    "{'type':2,'id':12,'tagName':'textarea','attributes':{},'childNodes':[{'type':3,'id':13,"
    "'textContent':'my notes'}]},"
    "{'type':2,'id':14,'tagName':'input','attributes':{'name':'plan','value':'gold'},"
    "'childNodes':[]},"
    "{'type':2,'id':15,'tagName':'input','attributes':{'type':'password','id':'pw','value':"
    "'hunter2'},'childNodes':[]},"
    "{'type':2,'id':16,'tagName':'input','attributes':{'type':'radio','name':'r','value':'yes',"
    "'checked':true},'childNodes':[]},"
    "{'type':2,'id':17,'tagName':'div','attributes':{'class':'ad','rr_width':'300px','rr_height':"
    "'250px','data-x':'y'},'childNodes':[{'type':3,'id':18,'textContent':'buy now'}]},"
    "{'type':2,'id':19,'tagName':'p','attributes':{'class':'secret-text'},'childNodes':[{'type':"
    "3,'id':20,'textContent':'Jane Q. Example'}]},"
    "{'type':2,'id':21,'tagName':'div','attributes':{'class':'profile'},'childNodes':[{'type':2,"
    "'id':22,'tagName':'span','attributes':{},'childNodes':[{'type':3,'id':23,'textContent':"
    "'Jane Q. Example'}]}]},"
    "{'type':2,'id':24,'tagName':'span','attributes':{},'childNodes':[{'type':3,'id':25,"
    "'textContent':'hello world'}]},"
    "{'type':2,'id':26,'tagName':'img','attributes':{'src':'data:image/png;base64,AAAA','alt':"
    "'logo'},'childNodes':[]},"
    "{'type':3,'id':27,'textContent':'mail jane.doe@example.com'},"
    "{'type':2,'id':28,'tagName':'select','attributes':{'name':'state'},'childNodes':[{'type':2,"
    "'id':29,'tagName':'option','attributes':{'value':'CA','selected':true},'childNodes':[{"
    "'type':3,'id':30,'textContent':'California'}]}]},"
    "{'type':2,'id':31,'tagName':'select','attributes':{'name':'plan'},'childNodes':[{'type':2,"
    "'id':32,'tagName':'option','attributes':{'value':'gold','selected':true},'childNodes':[]}]}"
    "]}]}]}}},"
    /* 2-5: input events: allowed, masked, unknown, allowed radio */
    "{'type':3,'timestamp':1100,'data':{'source':5,'id':14,'text':'platinum','isChecked':false}},"
    "{'type':3,'timestamp':1101,'data':{'source':5,'id':10,'text':'4111 1111 1111 1111',"
    "'isChecked':false}},"
    "{'type':3,'timestamp':1102,'data':{'source':5,'id':999,'text':'secret','isChecked':true}},"
    "{'type':3,'timestamp':1103,'data':{'source':5,'id':16,'text':'yes','isChecked':true}},"
    /* 6: text and attribute mutations */
    "{'type':3,'timestamp':1200,'data':{'source':0,'adds':[],'removes':[],'texts':[{'id':13,"
    "'value':'078-05-1120 again'},{'id':25,'value':'still public'}],'attributes':[{'id':10,"
    "'attributes':{'value':'4111 1111 1111 1111'}},{'id':15,'attributes':{'type':'text'}},"
    "{'id':14,'attributes':{'type':'password'}},{'id':17,'attributes':{'title':'x'}},{'id':26,"
    "'attributes':{'src':'data:image/png;base64,BBBB'}}]}},"
    /* 7-8: inputs after the type toggles */
    "{'type':3,'timestamp':1300,'data':{'source':5,'id':15,'text':'hunter2','isChecked':false}},"
    "{'type':3,'timestamp':1301,'data':{'source':5,'id':14,'text':'pass','isChecked':false}},"
    /* 9: adds under a blocked node, under a descendant selector, unknown parent */
    "{'type':3,'timestamp':1400,'data':{'source':0,'texts':[],'attributes':[],'removes':[],"
    "'adds':[{'parentId':17,'nextId':null,'node':{'type':3,'id':40,'textContent':'ad text'}},"
    "{'parentId':21,'nextId':null,'node':{'type':2,'id':41,'tagName':'span','attributes':{},"
    "'childNodes':[]}},{'parentId':41,'nextId':null,'node':{'type':3,'id':42,'textContent':"
    "'Secret Name'}},{'parentId':500,'nextId':null,'node':{'type':3,'id':43,'textContent':"
    "'unseen'}}]}},"
    /* 10: canvas */
    "{'type':3,'timestamp':1500,'data':{'source':9,'id':50,'type':0,'commands':[{'property':"
    "'drawImage','args':['data:image/png;base64,CCCC',0,0]}]}},"
    /* 11-12: custom and console plugin */
    "{'type':5,'timestamp':1600,'data':{'tag':'review','payload':{'note':'ssn 078-05-1120'}}},"
    "{'type':6,'timestamp':1700,'data':{'plugin':'rrweb/console@1','payload':{'level':'log',"
    "'payload':['user jane.doe@example.com card 4111 1111 1111 1111']}}},"
    "{'type':4,'timestamp':1800,'data':{'href':'https://ex.com/apply/done','width':1280,"
    "'height':800}}"
    "]}";

static void test_snapshot_inputs(void **state)
{
    (void)state;
    assert_int_equal(run("p", session), REDACT_OK);
    assert_true(oracle_valid(fx.out.data, fx.out.len));
    assert_string_equal(OUT_STR(BODY(0, ".attributes.value")), "*******************");
    assert_string_equal(OUT_STR(BODY(0, ".attributes.placeholder")), "***********");
    assert_string_equal(OUT_STR(BODY(0, ".attributes.title")), "*********");
    assert_string_equal(OUT_STR(BODY(0, ".attributes.aria-label")), "****");
    assert_string_equal(OUT_STR(BODY(0, ".attributes.name")), "card");
    assert_string_equal(OUT_STR(BODY(1, ".attributes.value")), "******"); /* hidden */
    assert_string_equal(OUT_STR(BODY(2, ".childNodes.0.textContent")), "********");
    assert_string_equal(OUT_STR(BODY(3, ".attributes.value")), "gold");    /* allowed */
    assert_string_equal(OUT_STR(BODY(4, ".attributes.value")), "*******"); /* password */
    assert_string_equal(OUT_STR(BODY(5, ".attributes.value")), "yes");     /* allow_types */
    assert_true(oracle_true(fx.out.data, fx.out.len, BODY(5, ".attributes.checked")));
    /* select and option: the chosen option is the value */
    assert_string_equal(OUT_STR(BODY(12, ".childNodes.0.attributes.value")), "**");
    assert_int_equal(OUT_KIND(BODY(12, ".childNodes.0.attributes.selected")), ORACLE_ABSENT);
    assert_string_equal(OUT_STR(BODY(12, ".childNodes.0.childNodes.0.textContent")), "**********");
    /* an allowed select keeps its options */
    assert_string_equal(OUT_STR(BODY(13, ".childNodes.0.attributes.value")), "gold");
    assert_true(
        oracle_true(fx.out.data, fx.out.len, BODY(13, ".childNodes.0.attributes.selected")));
    assert_true(count_of("inputs.default") >= 8);
    done();
}

static void test_snapshot_block_text_data(void **state)
{
    (void)state;
    assert_int_equal(run("p", session), REDACT_OK);
    assert_int_equal(OUT_SIZE(BODY(6, ".attributes")), 2);
    assert_string_equal(OUT_STR(BODY(6, ".attributes.rr_width")), "300px");
    assert_string_equal(OUT_STR(BODY(6, ".attributes.rr_height")), "250px");
    assert_string_equal(OUT_STR(BODY(6, ".tagName")), "div");
    assert_int_equal(OUT_KIND(BODY(6, ".childNodes")), ORACLE_ARRAY);
    assert_int_equal(OUT_SIZE(BODY(6, ".childNodes")), 0);
    assert_string_equal(OUT_STR(BODY(7, ".childNodes.0.textContent")), "***************");
    /* descendant selector: a span inside .profile, not one outside it */
    assert_string_equal(OUT_STR(BODY(8, ".childNodes.0.childNodes.0.textContent")),
                        "***************");
    assert_string_equal(OUT_STR(BODY(9, ".childNodes.0.textContent")), "hello world");
    assert_int_equal(OUT_KIND(BODY(10, ".attributes.src")), ORACLE_ABSENT);
    assert_string_equal(OUT_STR(BODY(10, ".attributes.alt")), "logo");
    assert_string_equal(OUT_STR(BODY(11, ".textContent")), "mail [REDACTED:email]");
    assert_true(count_of("block") >= 1);
    assert_true(count_of("text.mask") >= 2);
    assert_true(count_of("data_url") >= 3);
    done();
}

static void test_input_events(void **state)
{
    (void)state;
    assert_int_equal(run("p", session), REDACT_OK);
    assert_string_equal(OUT_STR(EV(2, ".text")), "platinum"); /* known, allowed */
    assert_string_equal(OUT_STR(EV(3, ".text")), "*******************");
    assert_string_equal(OUT_STR(EV(4, ".text")), "******"); /* unknown id */
    assert_false(oracle_true(fx.out.data, fx.out.len, EV(4, ".isChecked")));
    assert_true(oracle_true(fx.out.data, fx.out.len, EV(5, ".isChecked")));
    /* password -> text stays masked; text -> password becomes masked */
    assert_string_equal(OUT_STR(EV(7, ".text")), "*******");
    assert_string_equal(OUT_STR(EV(8, ".text")), "****");
    done();
}

static void test_mutations(void **state)
{
    (void)state;
    assert_int_equal(run("p", session), REDACT_OK);
    assert_string_equal(OUT_STR(EV(6, ".texts.0.value")), "*****************");
    assert_string_equal(OUT_STR(EV(6, ".texts.1.value")), "still public");
    assert_string_equal(OUT_STR(EV(6, ".attributes.0.attributes.value")), "*******************");
    assert_int_equal(OUT_SIZE(EV(6, ".attributes.3.attributes")), 0); /* blocked node */
    assert_int_equal(OUT_SIZE(EV(6, ".attributes.4.attributes")), 0); /* data: URL */
    /* the add under the blocked div is gone; the rest are masked */
    assert_int_equal(OUT_SIZE(EV(9, ".adds")), 3);
    assert_string_equal(OUT_STR(EV(9, ".adds.1.node.textContent")), "***********");
    assert_string_equal(OUT_STR(EV(9, ".adds.2.node.textContent")), "******");
    assert_int_equal(OUT_KIND(EV(10, ".commands.0.args")), ORACLE_ABSENT);
    assert_string_equal(OUT_STR(EV(10, ".commands.0.property")), "drawImage");
    done();
}

static void test_detectors_and_journey(void **state)
{
    const char *href;

    (void)state;
    assert_int_equal(run("p", session), REDACT_OK);
    href = OUT_STR(EV(0, ".href"));
    assert_non_null(strstr(href, "https://ex.com/apply/personal?e=[REDACTED:email]"));
    assert_null(strstr(fx.out.data, "jane.doe"));
    assert_non_null(strstr(OUT_STR(EV(12, ".payload.payload.0")), "[REDACTED:card]"));
    assert_non_null(strstr(OUT_STR(EV(11, ".payload.note")), "[REDACTED:ssn]"));
    assert_no_canary(&fx.out);
    assert_no_canary(&fx.ctx);
    assert_null(strstr(fx.ctx.data, "sess-1"));
    assert_non_null(strstr(fx.ctx.data, "\"step\":\"personal\""));
    assert_non_null(strstr(fx.ctx.data, "\"step\":\"review\""));
    assert_non_null(strstr(fx.ctx.data, "\"type\":\"complete\""));
    assert_non_null(strstr(fx.ctx.data, "\"device\":\"desktop\""));
    assert_null(strstr(fx.ctx.data, "apply"));
    done();
}

static void test_bare_array_and_data_urls_allowed(void **state)
{
    static const char arr[] =
        "[{'type':2,'timestamp':1,'data':{'node':{'type':0,'id':1,'childNodes':[{'type':2,'id':"
        "2,'tagName':'img','attributes':{'src':'data:image/png;base64,AAAA'},'childNodes':[]},"
        "{'type':2,'id':3,'tagName':'input','attributes':{'value':'x'}}]}}}]";

    (void)state;
    assert_int_equal(run("open", arr), REDACT_OK);
    assert_string_equal(OUT_STR("0.data.node.childNodes.0.attributes.src"),
                        "data:image/png;base64,AAAA");
    assert_string_equal(OUT_STR("0.data.node.childNodes.1.attributes.value"), "*");
    assert_int_equal(fx.ctx.len, 0); /* no session: no records */
    done();
    assert_int_equal(run("p", arr), REDACT_OK);
    assert_int_equal(OUT_KIND("0.data.node.childNodes.0.attributes.src"), ORACLE_ABSENT);
    done();
}

static void test_malformed(void **state)
{
    static const char *const bad[] = {
        "3",
        "{}",
        "{'events':{}}",
        "{'events':[],'extra':1}",
        "{'events':[],'session_id':5}",
        "[1]",
        "[{'type':9,'data':{}}]",
        "[{'type':'2','data':{}}]",
        "[{'type':2}]",
        "[{'type':2,'data':{'node':5}}]",
        "[{'type':2,'data':{'node':{'type':7,'id':1}}}]",
        "[{'type':2,'data':{'node':{'type':2,'id':1}}}]",
        "[{'type':2,'data':{'node':{'type':0,'id':'1'}}}]",
        "[{'type':2,'data':{'node':{'type':0,'id':1,'childNodes':{}}}}]",
        "[{'type':2,'data':{'node':{'type':3,'id':1,'childNodes':[]}}}]",
        "[{'type':3,'data':{'source':0,'adds':{}}}]",
        "[{'type':3,'data':{'source':5,'text':'4111 1111 1111 1111'}}]",
        "[{'type':3,'data':{'source':0,'attributes':[{'id':1}]}}]",
        "[{'type':3,'data':{}}]",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (run("p", bad[i]) != REDACT_BAD)
            fail_msg("case %zu accepted", i);
        assert_int_equal(fx.out.len, 0);
        assert_int_equal(fx.ctx.len, 0);
        done();
    }
}

/* Walk an allocation failure through the session payload: each run ends
 * in success or a clean error with nothing written, and never leaks. */
static void test_torture_allocation_failures(void **state)
{
    (void)state;
    for (long n = 0; n < 400; n++) {
        long before = mem_live();
        enum redact_status st;
        fx.fail_after = n;
        st = run("p", session);
        fx.fail_after = -1;
        if (st != REDACT_OK) {
            assert_int_equal(fx.out.len, 0);
            assert_int_equal(fx.ctx.len, 0);
        }
        done();
        assert_int_equal(mem_live(), before);
        if (st == REDACT_OK) {
            assert_true(n > 3); /* the walk really went through failing allocations */
            return;
        }
    }
    fail_msg("never succeeded within 400 allocations");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        LEAK_TEST(test_snapshot_inputs),
        LEAK_TEST(test_snapshot_block_text_data),
        LEAK_TEST(test_input_events),
        LEAK_TEST(test_mutations),
        LEAK_TEST(test_detectors_and_journey),
        LEAK_TEST(test_bare_array_and_data_urls_allowed),
        LEAK_TEST(test_malformed),
        LEAK_TEST(test_torture_allocation_failures),
    };
    return cmocka_run_group_tests_name("rrweb", tests, group_setup, group_teardown);
}
