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
#include "rules/session.h"
#include "leak.h"
#include "engine_fixture.h"
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
    char in[16384];
    long fail_after; /* the allocation that fails inside engine_redact; -1: none */
};

static struct fixture fx = {.fail_after = -1};

static int group_setup(void **state)
{
    (void)state;
    return engine_fixture_open(yaml, sizeof(yaml) - 1, &fx.conf, &fx.key, &fx.err);
}

static int group_teardown(void **state)
{
    (void)state;
    engine_fixture_close(fx.conf, fx.key);
    return 0;
}

/* Run payload q (with ' for ") under policy pol, in the sessions of t
 * (NULL: none); returns the status. */
static enum redact_status run_in(struct session_table *t, const char *pol, const char *q)
{
    const struct policy *p = conf_policy_by_name(fx.conf, pol);
    struct redact_env env = {
        p, NULL, json_default_limits, pseudo_engine_fn, fx.key, NULL, &fx.ctx, 0, {0, 0}, t};
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

static enum redact_status run(const char *pol, const char *q)
{
    return run_in(NULL, pol, q);
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
    assert_string_equal(OUT_STR(BODY(7, ".childNodes.0.textContent")), "**** ** *******");
    /* descendant selector: a span inside .profile, not one outside it */
    assert_string_equal(OUT_STR(BODY(8, ".childNodes.0.childNodes.0.textContent")),
                        "**** ** *******");
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
    assert_string_equal(OUT_STR(EV(9, ".adds.1.node.textContent")), "****** ****");
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

/* ---- the leak classes client-side masking is known for ---- */

/* The n-th child of <body> in a one-snapshot bare array. */
#define SNAP(n, rest) "0.data.node.childNodes.0.childNodes.0.childNodes." #n rest

static const char leak_attrs[] =
    "[{'type':2,'timestamp':1,'data':{'node':{'type':0,'id':1,'childNodes':["
    "{'type':2,'id':2,'tagName':'html','attributes':{},'childNodes':["
    "{'type':2,'id':3,'tagName':'body','attributes':{},'childNodes':["
    "{'type':2,'id':10,'tagName':'img','attributes':{'class':'secret-text','alt':'Jane Q. "
    "Example','title':'Jane Q. Example','data-owner':'Jane Q. Example','src':'/a.png'}},"
    "{'type':2,'id':11,'tagName':'input','attributes':{'name':'card','data-value':'4111 1111 "
    "1111 1111','placeholder':'Jane Q. Example','aria-valuetext':'hunter2'}},"
    "{'type':2,'id':12,'tagName':'a','attributes':{'href':'mailto:jane.doe@example.com','title':"
    "'ssn 078-05-1120','data-x':'card 4111 1111 1111 1111'},'childNodes':[]},"
    "{'type':2,'id':13,'tagName':'iframe','attributes':{'srcdoc':'<p>Jane Q. Example</p><input "
    "type=password value=hunter2>'},'childNodes':[]}"
    "]}]}]}}}]";

/* rrweb's own text masking keeps whitespace: layout text between
 * elements stays, so the replayed page keeps its lines. */
static const char text_spacing[] =
    "[{'type':2,'timestamp':1,'data':{'node':{'type':0,'id':1,'childNodes':["
    "{'type':2,'id':2,'tagName':'div','attributes':{'class':'secret-text'},'childNodes':["
    "{'type':3,'id':3,'textContent':'\\n    '},"
    "{'type':3,'id':4,'textContent':'Jane\\tDoe\\n'}]}]}}}]";

static void test_text_mask_keeps_whitespace(void **state)
{
    (void)state;
    assert_int_equal(run("p", text_spacing), REDACT_OK);
    assert_string_equal(OUT_STR("0.data.node.childNodes.0.childNodes.0.textContent"), "\n    ");
    assert_string_equal(OUT_STR("0.data.node.childNodes.0.childNodes.1.textContent"),
                        "****\t***\n");
    done();
}

static void test_leak_attribute_values(void **state)
{
    (void)state;
    assert_int_equal(run("p", leak_attrs), REDACT_OK);
    /* text-masked element: what a person reads in its attributes too */
    assert_string_equal(OUT_STR(SNAP(0, ".attributes.alt")), "**** ** *******");
    assert_string_equal(OUT_STR(SNAP(0, ".attributes.title")), "**** ** *******");
    assert_string_equal(OUT_STR(SNAP(0, ".attributes.data-owner")), "**** ** *******");
    assert_string_equal(OUT_STR(SNAP(0, ".attributes.src")), "/a.png");
    /* masked input: data-* mirrors of the value, aria-valuetext */
    assert_string_equal(OUT_STR(SNAP(1, ".attributes.data-value")), "*******************");
    assert_string_equal(OUT_STR(SNAP(1, ".attributes.placeholder")), "***************");
    assert_string_equal(OUT_STR(SNAP(1, ".attributes.aria-valuetext")), "*******");
    /* allowed element: the detectors still read every attribute */
    assert_string_equal(OUT_STR(SNAP(2, ".attributes.href")), "mailto:[REDACTED:email]");
    assert_string_equal(OUT_STR(SNAP(2, ".attributes.title")), "ssn [REDACTED:ssn]");
    assert_string_equal(OUT_STR(SNAP(2, ".attributes.data-x")), "card [REDACTED:card]");
    /* an iframe's inline document is HTML no rule judged */
    assert_null(strstr(OUT_STR(SNAP(3, ".attributes.srcdoc")), "Jane"));
    assert_no_canary(&fx.out);
    done();
}

/* A same-origin iframe's document arrives as a mutation add under the
 * iframe element (rootId on its nodes); a shadow root's children carry
 * isShadow under their host. Both are judged like any subtree. */
static const char leak_frames[] =
    "[{'type':2,'timestamp':1,'data':{'node':{'type':0,'id':1,'childNodes':["
    "{'type':2,'id':2,'tagName':'html','attributes':{},'childNodes':["
    "{'type':2,'id':3,'tagName':'body','attributes':{},'childNodes':["
    "{'type':2,'id':10,'tagName':'iframe','attributes':{},'childNodes':[]},"
    "{'type':2,'id':11,'tagName':'iframe','attributes':{'class':'ad'},'childNodes':[]},"
    "{'type':2,'id':12,'tagName':'div','attributes':{'class':'secret-text'},'isShadowHost':true,"
    "'childNodes':[{'type':3,'id':13,'textContent':'Jane Q. Example','isShadow':true},"
    "{'type':2,'id':14,'tagName':'input','attributes':{'value':'4111 1111 1111 1111'},"
    "'isShadow':true}]}"
    "]}]}]}}},"
    "{'type':3,'timestamp':2,'data':{'source':0,'texts':[],'attributes':[],'removes':[],"
    "'isAttachIframe':true,'adds':[{'parentId':10,'nextId':null,'node':{'type':0,'id':20,"
    "'rootId':20,'childNodes':[{'type':2,'id':21,'tagName':'input','rootId':20,'attributes':{"
    "'type':'password','value':'hunter2'}},{'type':2,'id':22,'tagName':'p','rootId':20,"
    "'attributes':{'class':'secret-text'},'childNodes':[{'type':3,'id':23,'rootId':20,"
    "'textContent':'Jane Q. Example'}]}]}},"
    "{'parentId':11,'nextId':null,'node':{'type':0,'id':30,'childNodes':[]}}]}},"
    "{'type':3,'timestamp':3,'data':{'source':5,'id':21,'text':'hunter2','isChecked':false}},"
    "{'type':3,'timestamp':4,'data':{'source':0,'texts':[],'attributes':[],'removes':[],"
    "'adds':[{'parentId':12,'nextId':null,'node':{'type':3,'id':15,'textContent':'Jane Q. "
    "Example','isShadow':true}}]}}]";

static void test_leak_iframes_and_shadow_roots(void **state)
{
    (void)state;
    assert_int_equal(run("p", leak_frames), REDACT_OK);
    assert_string_equal(OUT_STR(SNAP(2, ".childNodes.0.textContent")), "**** ** *******");
    assert_string_equal(OUT_STR(SNAP(2, ".childNodes.1.attributes.value")), "*******************");
    assert_string_equal(OUT_STR("1.data.adds.0.node.childNodes.0.attributes.value"), "*******");
    assert_string_equal(OUT_STR("1.data.adds.0.node.childNodes.1.childNodes.0.textContent"),
                        "**** ** *******");
    assert_int_equal(OUT_SIZE("1.data.adds"), 1); /* the blocked iframe's document is gone */
    assert_string_equal(OUT_STR("2.data.text"), "*******");
    assert_string_equal(OUT_STR("3.data.adds.0.node.textContent"), "**** ** *******");
    assert_no_canary(&fx.out);
    done();
}

static const char leak_css[] =
    "[{'type':2,'timestamp':1,'data':{'node':{'type':0,'id':1,'childNodes':["
    "{'type':2,'id':2,'tagName':'html','attributes':{},'childNodes':["
    "{'type':2,'id':3,'tagName':'style','attributes':{'_cssText':'.a::before{content:\\'Jane Q. "
    "Example\\'}.b::after{content:\\'\\\\f101\\'}.c{align-content:center}'}},"
    "{'type':2,'id':4,'tagName':'style','attributes':{},'childNodes':[{'type':3,'id':5,"
    "'isStyle':true,'textContent':'p::before{content: \\'\\\\4a\\\\61ne\\' \\'/\\'}p{color:red}'}]}"
    "]}]}}},"
    "{'type':3,'timestamp':2,'data':{'source':8,'id':3,'adds':[{'rule':'q::after{content:\\'Jane "
    "Q. Example\\'}','index':0}]}},"
    "{'type':3,'timestamp':3,'data':{'source':15,'id':1,'styleIds':[1],'styles':[{'styleId':1,"
    "'rules':[{'rule':'h1::before{CONTENT:\\'Jane Q. Example\\' !important}','index':0}]}]}},"
    "{'type':3,'timestamp':4,'data':{'source':13,'id':3,'index':[0],'set':{'property':'content',"
    "'value':'\\'Jane Q. Example\\'','priority':''}}},"
    "{'type':3,'timestamp':5,'data':{'source':0,'adds':[],'removes':[],'attributes':[],"
    "'texts':[{'id':5,'value':'p::before{content:\\'Jane Q. Example\\'}'}]}}]";

static void test_leak_css_text(void **state)
{
    (void)state;
    assert_int_equal(run("p", leak_css), REDACT_OK);
    /* content strings are masked; icon-font escapes and the rest of the
     * style stay, so the replay still looks right */
    assert_string_equal(OUT_STR("0.data.node.childNodes.0.childNodes.0.attributes._cssText"),
                        ".a::before{content:\"***************\"}.b::after{content:\"\\f101\"}"
                        ".c{align-content:center}");
    /* an escaped letter is a letter; a lone '/' says nothing */
    assert_string_equal(OUT_STR("0.data.node.childNodes.0.childNodes.1.childNodes.0.textContent"),
                        "p::before{content: \"****\" \"/\"}p{color:red}");
    assert_string_equal(OUT_STR("1.data.adds.0.rule"), "q::after{content:\"***************\"}");
    assert_string_equal(OUT_STR("2.data.styles.0.rules.0.rule"),
                        "h1::before{CONTENT:\"***************\" !important}");
    assert_string_equal(OUT_STR("3.data.set.value"), "\"***************\"");
    assert_string_equal(OUT_STR("4.data.texts.0.value"), "p::before{content:\"***************\"}");
    assert_true(count_of("text.mask") >= 6);
    assert_no_canary(&fx.out);
    done();
}

static const char leak_canvas[] =
    "[{'type':2,'timestamp':1,'data':{'node':{'type':0,'id':1,'childNodes':["
    "{'type':2,'id':2,'tagName':'canvas','attributes':{'rr_dataURL':'data:image/png;base64,"
    "AAAA'}}]}}},"
    "{'type':3,'timestamp':2,'data':{'source':9,'id':2,'type':0,'commands':["
    "{'property':'fillText','args':['Jane Q. Example',10,20]},"
    "{'property':'strokeText','args':['078-05-1120',10,20]},"
    "{'property':'drawImage','args':[{'rr_type':'ImageBitmap','args':[{'rr_type':'Blob','data':"
    "[{'rr_type':'ArrayBuffer','base64':'AAAA'}],'type':'image/png'}]},0,0]}]}},"
    "{'type':3,'timestamp':3,'data':{'source':9,'id':77,'type':0,'commands':["
    "{'property':'fillText','args':['Jane Q. Example',10,20]}]}}]";

static void test_leak_canvas(void **state)
{
    (void)state;
    /* a policy that allows image data keeps pixels but never drawn text */
    assert_int_equal(run("open", leak_canvas), REDACT_OK);
    assert_string_equal(OUT_STR("1.data.commands.0.args.0"), "**** ** *******");
    assert_string_equal(OUT_STR("1.data.commands.1.args.0"), "***********");
    assert_int_equal(OUT_KIND("1.data.commands.2.args"), ORACLE_ARRAY);
    /* an unknown canvas keeps no arguments at all */
    assert_int_equal(OUT_KIND("2.data.commands.0.args"), ORACLE_ABSENT);
    assert_no_canary(&fx.out);
    done();
    /* the default drops every argument, image data and text alike */
    assert_int_equal(run("p", leak_canvas), REDACT_OK);
    assert_int_equal(OUT_KIND("1.data.commands.0.args"), ORACLE_ABSENT);
    assert_int_equal(OUT_KIND("1.data.commands.2.args"), ORACLE_ABSENT);
    assert_int_equal(OUT_KIND("0.data.node.childNodes.0.attributes.rr_dataURL"), ORACLE_ABSENT);
    done();
}

static const char leak_plugins[] =
    "[{'type':6,'timestamp':1,'data':{'plugin':'rrweb/network@1','payload':{'requests':[{"
    "'name':'https://api.ex.com/apply?email=jane.doe@example.com','method':'POST',"
    "'status':200,'requestHeaders':{'Authorization':'Bearer hunter2','Content-Type':"
    "'application/json'},'requestBody':{'name':'Jane Q. Example','card':'4111 1111 1111 "
    "1111'},'responseHeaders':{'set-cookie':'sid=hunter2','content-length':'12'},"
    "'responseBody':'Welcome Jane Q. Example'}]}}},"
    "{'type':6,'timestamp':2,'data':{'plugin':'rrweb/console@1','payload':{'level':'log',"
    "'trace':[],'payload':['\\'user jane.doe@example.com ssn 078-05-1120\\'']}}}]";

static void test_leak_console_and_network(void **state)
{
    (void)state;
    assert_int_equal(run("p", leak_plugins), REDACT_OK);
    assert_string_equal(OUT_STR("0.data.payload.requests.0.name"),
                        "https://api.ex.com/apply?email=[REDACTED:email]");
    assert_string_equal(OUT_STR("0.data.payload.requests.0.requestHeaders.Authorization"),
                        "**************");
    assert_string_equal(OUT_STR("0.data.payload.requests.0.requestHeaders.Content-Type"),
                        "application/json");
    assert_int_equal(OUT_KIND("0.data.payload.requests.0.requestBody"), ORACLE_NULL);
    assert_string_equal(OUT_STR("0.data.payload.requests.0.responseHeaders.set-cookie"),
                        "***********");
    assert_string_equal(OUT_STR("0.data.payload.requests.0.responseHeaders.content-length"), "12");
    assert_string_equal(OUT_STR("0.data.payload.requests.0.responseBody"),
                        "***********************");
    assert_null(strstr(OUT_STR("1.data.payload.payload.0"), "078-05"));
    assert_no_canary(&fx.out);
    done();
}

/* ---- sessions: the node map across payloads ---- */

static const uint8_t table_key[16] = {42};

static struct session_table *table_for(const char *tenant, const char *fallback)
{
    struct session_table *t = session_table_new(100000, 5000000, table_key);

    assert_non_null(t);
    assert_int_equal(
        session_table_bind(t, tenant, strlen(tenant), fallback, fallback ? strlen(fallback) : 0),
        0);
    return t;
}

#define LONG_TITLE                                                                                 \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
    "xxxxxxxxxxxxxxxx"

#define SNAPSHOT_NODES                                                                             \
    "{'type':2,'id':2,'tagName':'html','attributes':{},'childNodes':["                             \
    "{'type':2,'id':3,'tagName':'body','attributes':{},'childNodes':["                             \
    "{'type':2,'id':10,'tagName':'input','attributes':{'name':'plan','value':'gold'}},"            \
    "{'type':2,'id':11,'tagName':'input','attributes':{'name':'card','id':'card-no'}},"            \
    "{'type':2,'id':12,'tagName':'input','attributes':{'type':'password','id':'pw'}},"             \
    "{'type':2,'id':13,'tagName':'input','attributes':{'type':'hidden','name':'token'}},"          \
    "{'type':2,'id':14,'tagName':'textarea','attributes':{'name':'notes'},'childNodes':[{'type':"  \
    "3,'id':15,'textContent':''}]},"                                                               \
    "{'type':2,'id':16,'tagName':'span','attributes':{},'childNodes':[{'type':3,'id':17,"          \
    "'textContent':'public'}]},"                                                                   \
    "{'type':2,'id':18,'tagName':'div','attributes':{'class':'ad'},'childNodes':[]},"              \
    "{'type':2,'id':19,'tagName':'div','attributes':{'class':'profile'},'childNodes':[]},"         \
    "{'type':2,'id':20,'tagName':'input','attributes':{'type':'radio','name':'r'}},"               \
    "{'type':2,'id':21,'tagName':'input','attributes':{'name':'email','aria-invalid':'false'}},"   \
    "{'type':2,'id':22,'tagName':'div','attributes':{'title':'" LONG_TITLE "'},'childNodes':[]},"  \
    "{'type':2,'id':23,'tagName':'input','attributes':{'id':'jane.doe@example.com'}}"              \
    "]}]}"

static const char payload1[] =
    "{'session_id':'S1','events':["
    "{'type':4,'timestamp':1000,'data':{'href':'https://ex.com/apply/personal','width':390,"
    "'height':800}},"
    "{'type':2,'timestamp':1001,'data':{'node':{'type':0,'id':1,'childNodes':[" SNAPSHOT_NODES
    "]}}}]}";

/* Everything here names nodes of payload 1 only. */
static const char payload2[] =
    "{'session_id':'S1','events':["
    "{'type':3,'timestamp':2000,'data':{'source':5,'id':10,'text':'platinum','isChecked':false}},"
    "{'type':3,'timestamp':2001,'data':{'source':5,'id':11,'text':'4111 1111 1111 1111',"
    "'isChecked':false}},"
    "{'type':3,'timestamp':2002,'data':{'source':0,'adds':[],'removes':[],'texts':[],"
    "'attributes':[{'id':12,'attributes':{'type':'text'}}]}},"
    "{'type':3,'timestamp':2003,'data':{'source':5,'id':12,'text':'hunter2','isChecked':false}},"
    "{'type':3,'timestamp':2004,'data':{'source':5,'id':13,'text':'078-05-1120','isChecked':"
    "false}},"
    "{'type':3,'timestamp':2005,'data':{'source':0,'adds':[],'removes':[],'attributes':[],"
    "'texts':[{'id':15,'value':'Jane Q. Example'},{'id':17,'value':'still public'}]}},"
    "{'type':3,'timestamp':2006,'data':{'source':0,'texts':[],'attributes':[],'removes':[],"
    "'adds':[{'parentId':18,'nextId':null,'node':{'type':3,'id':40,'textContent':'ad'}},"
    "{'parentId':19,'nextId':null,'node':{'type':2,'id':41,'tagName':'span','attributes':{},"
    "'childNodes':[{'type':3,'id':42,'textContent':'Jane Q. Example'}]}},"
    "{'parentId':22,'nextId':null,'node':{'type':3,'id':43,'textContent':'Jane Q. Example'}}]}},"
    "{'type':3,'timestamp':2007,'data':{'source':5,'id':999,'text':'secret','isChecked':true}},"
    "{'type':3,'timestamp':2008,'data':{'source':5,'id':20,'text':'on','isChecked':true}},"
    "{'type':5,'timestamp':2009,'data':{'tag':'review','payload':{}}}]}";

static void test_session_carries_decisions(void **state)
{
    struct session_table *t = table_for("t", NULL);
    struct session_stats st;

    (void)state;
    assert_int_equal(run_in(t, "p", payload1), REDACT_OK);
    done();
    assert_int_equal(run_in(t, "p", payload2), REDACT_OK);
    assert_string_equal(OUT_STR(EV(0, ".text")), "platinum"); /* allowed stays allowed */
    assert_string_equal(OUT_STR(EV(1, ".text")), "*******************");
    assert_string_equal(OUT_STR(EV(3, ".text")), "*******");     /* a password toggled to text */
    assert_string_equal(OUT_STR(EV(4, ".text")), "***********"); /* hidden */
    /* a textarea's value arriving as a text mutation of its text node */
    assert_string_equal(OUT_STR(EV(5, ".texts.0.value")), "***************");
    assert_string_equal(OUT_STR(EV(5, ".texts.1.value")), "still public");
    /* adds: under a blocked node dropped; the descendant selector sees
     * payload 1's .profile; an ancestor not fully kept masks text */
    assert_int_equal(OUT_SIZE(EV(6, ".adds")), 2);
    assert_string_equal(OUT_STR(EV(6, ".adds.0.node.childNodes.0.textContent")), "**** ** *******");
    assert_string_equal(OUT_STR(EV(6, ".adds.1.node.textContent")), "**** ** *******");
    assert_string_equal(OUT_STR(EV(7, ".text")), "******"); /* never seen */
    assert_false(oracle_true(fx.out.data, fx.out.len, EV(7, ".isChecked")));
    assert_true(oracle_true(fx.out.data, fx.out.len, EV(8, ".isChecked")));
    assert_no_canary(&fx.out);
    assert_no_canary(&fx.ctx);
    done();
    session_table_stats(t, &st);
    assert_int_equal(st.sessions, 1);
    assert_true(st.entries >= 20);
    session_table_free(t);
}

/* The same second payload without the first one's session is judged on
 * its own: every input is unknown. */
static void test_without_session_everything_is_unknown(void **state)
{
    struct session_table *t = table_for("t", NULL);
    struct session_table *other = table_for("other-tenant", NULL);

    (void)state;
    assert_int_equal(run_in(t, "p", payload1), REDACT_OK);
    done();
    assert_int_equal(run_in(NULL, "p", payload2), REDACT_OK); /* no table */
    assert_string_equal(OUT_STR(EV(0, ".text")), "********");
    assert_string_equal(OUT_STR(EV(5, ".texts.1.value")), "************");
    done();
    assert_int_equal(run_in(other, "p", payload2), REDACT_OK); /* another tenant's table */
    assert_string_equal(OUT_STR(EV(0, ".text")), "********");
    done();
    assert_int_equal(session_table_bind(t, "other-tenant", 12, NULL, 0), 0);
    assert_int_equal(run_in(t, "p", payload2), REDACT_OK); /* same table, other tenant */
    assert_string_equal(OUT_STR(EV(0, ".text")), "********");
    done();
    session_table_free(t);
    session_table_free(other);
}

/* A bare array names no session: the table's fallback (the CLI's
 * --session, a proxy's header) does. */
static void test_fallback_session(void **state)
{
    static const char bare1[] = "[{'type':2,'timestamp':1,'data':{'node':{'type':0,'id':1,"
                                "'childNodes':[" SNAPSHOT_NODES "]}}}]";
    static const char bare2[] =
        "[{'type':3,'timestamp':2,'data':{'source':5,'id':10,'text':'platinum'}}]";
    struct session_table *t = table_for("t", "cli-session");

    (void)state;
    assert_int_equal(run_in(t, "p", bare1), REDACT_OK);
    done();
    assert_int_equal(run_in(t, "p", bare2), REDACT_OK);
    assert_string_equal(OUT_STR("0.data.text"), "platinum");
    done();
    assert_int_equal(session_table_bind(t, "t", 1, NULL, 0), 0);
    assert_int_equal(run_in(t, "p", bare2), REDACT_OK);
    assert_string_equal(OUT_STR("0.data.text"), "********");
    done();
    session_table_free(t);
}

/* A new full snapshot replaces the map; a node that was ever a password
 * stays masked even when the snapshot describes it as a text input. */
static void test_snapshot_resets_but_passwords_stay(void **state)
{
    static const char again[] =
        "{'session_id':'S1','events':[{'type':2,'timestamp':3000,'data':{'node':{'type':0,'id':1,"
        "'childNodes':[{'type':2,'id':2,'tagName':'html','attributes':{},'childNodes':["
        "{'type':2,'id':10,'tagName':'input','attributes':{'name':'plan'}},"
        "{'type':2,'id':12,'tagName':'input','attributes':{'type':'text','id':'pw'}}]}]}}},"
        "{'type':3,'timestamp':3001,'data':{'source':5,'id':12,'text':'hunter2'}},"
        "{'type':3,'timestamp':3002,'data':{'source':5,'id':10,'text':'gold'}},"
        "{'type':3,'timestamp':3003,'data':{'source':5,'id':20,'text':'on'}}]}";
    static const char later[] =
        "{'session_id':'S1','events':["
        "{'type':3,'timestamp':4000,'data':{'source':5,'id':12,'text':'hunter2'}},"
        "{'type':3,'timestamp':4001,'data':{'source':5,'id':20,'text':'on'}}]}";
    struct session_table *t = table_for("t", NULL);

    (void)state;
    assert_int_equal(run_in(t, "p", payload1), REDACT_OK);
    done();
    assert_int_equal(run_in(t, "p", again), REDACT_OK);
    assert_string_equal(OUT_STR(EV(1, ".text")), "*******");
    assert_string_equal(OUT_STR(EV(2, ".text")), "gold");
    assert_string_equal(OUT_STR(EV(3, ".text")), "**"); /* not in the new snapshot */
    done();
    assert_int_equal(run_in(t, "p", later), REDACT_OK);
    assert_string_equal(OUT_STR(EV(0, ".text")), "*******");
    assert_string_equal(OUT_STR(EV(1, ".text")), "**");
    done();
    session_table_free(t);
}

/* A removed node and its subtree are gone from the session: later events
 * for them are unknown. */
static void test_removes_forget_subtrees(void **state)
{
    static const char rm[] =
        "{'session_id':'S1','events':[{'type':3,'timestamp':2000,'data':{'source':0,'adds':[],"
        "'texts':[],'attributes':[],'removes':[{'parentId':3,'id':16}]}}]}";
    static const char after[] =
        "{'session_id':'S1','events':[{'type':3,'timestamp':2001,'data':{'source':0,'adds':[],"
        "'removes':[],'attributes':[],'texts':[{'id':17,'value':'Jane Q. Example'}]}}]}";
    struct session_table *t = table_for("t", NULL);
    struct session_stats before, now;

    (void)state;
    assert_int_equal(run_in(t, "p", payload1), REDACT_OK);
    done();
    session_table_stats(t, &before);
    assert_int_equal(run_in(t, "p", rm), REDACT_OK);
    done();
    session_table_stats(t, &now);
    assert_int_equal(now.entries, before.entries - 2);
    assert_int_equal(run_in(t, "p", after), REDACT_OK);
    assert_string_equal(OUT_STR(EV(0, ".texts.0.value")), "***************");
    done();
    session_table_free(t);
}

static void test_session_needs_a_tenant(void **state)
{
    struct session_table *t = session_table_new(100, 1000, table_key);

    (void)state;
    assert_int_equal(run_in(t, "p", payload1), REDACT_INTERNAL);
    assert_int_equal(fx.out.len, 0);
    done();
    session_table_free(t);
}

/* ---- validation state and the journey across payloads ---- */

/* How many lines of the records hold every one of the strings. */
static int records_with(const char *a, const char *b, const char *c)
{
    int n = 0;

    for (const char *p = fx.ctx.data, *e; p != NULL && *p; p = e ? e + 1 : NULL) {
        size_t len;
        char line[1024];
        e = strchr(p, '\n');
        len = e ? (size_t)(e - p) : strlen(p);
        if (len >= sizeof(line))
            continue;
        memcpy(line, p, len);
        line[len] = '\0';
        n += strstr(line, a) && (!b || strstr(line, b)) && (!c || strstr(line, c));
    }
    return n;
}

static const char payload3[] =
    "{'session_id':'S1','events':["
    "{'type':3,'timestamp':5000,'data':{'source':5,'id':21,'text':'jane@@example','isChecked':"
    "false}},"
    "{'type':3,'timestamp':5001,'data':{'source':0,'adds':[],'removes':[],'texts':[],"
    "'attributes':[{'id':21,'attributes':{'aria-invalid':'true'}},{'id':23,'attributes':{"
    "'aria-invalid':'true'}}]}},"
    "{'type':5,'timestamp':5002,'data':{'tag':'validation','payload':{'field':'email','state':"
    "'invalid','code':'format'}}},"
    "{'type':5,'timestamp':5003,'data':{'tag':'validation','payload':{'field':'phone','state':"
    "'invalid','code':'too_short'}}},"
    "{'type':3,'timestamp':5004,'data':{'source':0,'adds':[],'removes':[],'texts':[],"
    "'attributes':[{'id':21,'attributes':{'aria-invalid':null}}]}},"
    "{'type':4,'timestamp':6000,'data':{'href':'https://ex.com/apply/done','width':390,"
    "'height':800}}]}";

static void test_validation_from_aria_invalid(void **state)
{
    struct session_table *t = table_for("t", NULL);

    (void)state;
    assert_int_equal(run_in(t, "p", payload1), REDACT_OK);
    assert_int_equal(records_with("\"type\":\"step_enter\"", "\"step\":\"personal\"", NULL), 1);
    done();
    assert_int_equal(run_in(t, "p", payload2), REDACT_OK);
    done();
    assert_int_equal(run_in(t, "p", payload3), REDACT_OK);
    /* one record for the aria-invalid change, with the custom event's code */
    assert_int_equal(
        records_with("\"type\":\"field_state\"", "\"field\":\"email\"", "\"state\":\"invalid\""),
        1);
    assert_int_equal(
        records_with("\"field\":\"email\"", "\"state\":\"invalid\"", "\"code\":\"format\""), 1);
    assert_int_equal(records_with("\"field\":\"email\"", "\"state\":\"valid\"", NULL), 1);
    /* a custom validation event on its own */
    assert_int_equal(records_with("\"field\":\"phone\"", "\"code\":\"too_short\"", NULL), 1);
    /* a field named by a value: through the detectors first */
    assert_int_equal(records_with("\"field\":\"[REDACTED:email]\"", "\"state\":\"invalid\"", NULL),
                     1);
    /* the journey went on from payload 1: the step was still "review" */
    assert_int_equal(records_with("\"type\":\"complete\"", NULL, NULL), 1);
    assert_int_equal(records_with("\"step\":\"review\"", NULL, NULL) >= 1, 1);
    assert_int_equal(records_with("\"device\":\"mobile\"", NULL, NULL) >= 1, 1);
    assert_no_canary(&fx.ctx);
    assert_null(strstr(fx.ctx.data, "jane"));
    done();
    session_table_free(t);
}

/* time to complete runs from the session's first event, payloads apart */
static void test_journey_spans_payloads(void **state)
{
    struct session_table *t = table_for("t", NULL);
    char want[64];

    (void)state;
    assert_int_equal(run_in(t, "p", payload1), REDACT_OK);
    done();
    assert_int_equal(run_in(t, "p", payload3), REDACT_OK);
    snprintf(want, sizeof(want), "\"ttc_ms\":%d", 6000 - 1000);
    assert_int_equal(records_with("\"type\":\"complete\"", want, NULL), 1);
    done();
    /* without the session the journey starts within payload 3 */
    assert_int_equal(run_in(NULL, "p", payload3), REDACT_OK);
    assert_int_equal(records_with("\"type\":\"complete\"", NULL, NULL), 1);
    assert_int_equal(records_with("\"type\":\"complete\"", want, NULL), 0);
    done();
    session_table_free(t);
}

/* Walk an allocation failure through two payloads of one session. */
static void test_session_torture(void **state)
{
    (void)state;
    for (long n = 0; n < 600; n++) {
        long before = mem_live();
        struct session_table *t = table_for("t", NULL);
        enum redact_status st;
        assert_int_equal(run_in(t, "p", payload1), REDACT_OK);
        done();
        fx.fail_after = n;
        st = run_in(t, "p", payload2);
        fx.fail_after = -1;
        if (st != REDACT_OK)
            assert_int_equal(fx.out.len, 0);
        else
            assert_string_equal(OUT_STR(EV(1, ".text")), "*******************");
        done();
        session_table_free(t);
        assert_int_equal(mem_live(), before);
        if (st == REDACT_OK)
            return;
    }
    fail_msg("never succeeded within 600 allocations");
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
        LEAK_TEST(test_text_mask_keeps_whitespace),
        LEAK_TEST(test_input_events),
        LEAK_TEST(test_mutations),
        LEAK_TEST(test_detectors_and_journey),
        LEAK_TEST(test_bare_array_and_data_urls_allowed),
        LEAK_TEST(test_malformed),
        LEAK_TEST(test_torture_allocation_failures),
        LEAK_TEST(test_leak_attribute_values),
        LEAK_TEST(test_leak_iframes_and_shadow_roots),
        LEAK_TEST(test_leak_css_text),
        LEAK_TEST(test_leak_canvas),
        LEAK_TEST(test_leak_console_and_network),
        LEAK_TEST(test_session_carries_decisions),
        LEAK_TEST(test_without_session_everything_is_unknown),
        LEAK_TEST(test_fallback_session),
        LEAK_TEST(test_snapshot_resets_but_passwords_stay),
        LEAK_TEST(test_removes_forget_subtrees),
        LEAK_TEST(test_session_needs_a_tenant),
        LEAK_TEST(test_validation_from_aria_invalid),
        LEAK_TEST(test_journey_spans_payloads),
        LEAK_TEST(test_session_torture),
    };
    return cmocka_run_group_tests_name("rrweb", tests, group_setup, group_teardown);
}
