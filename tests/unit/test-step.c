/* test-step.c — the template's instance names (systemd-escape of RULE/STEP/RUN, parsed strictly)
 * and the environment file exec-step accepts from the agent. */
#include <errno.h>

#include "ec2agent/macro.h"
#include "ec2agent/step.h"
#include "tap.h"

static void test_instance_format(void) {
        char b[STEP_UNIT_MAX];
        /* as `systemd-escape drain/1/1765090000-3` writes them */
        ASSERT_INT(step_instance_format("drain", 1, "1765090000-3", b, sizeof b), 0);
        ASSERT_STR(b, "drain-1-1765090000\\x2d3");
        ASSERT_INT(step_instance_format("a.b", 0, "1-2", b, sizeof b), 0);
        ASSERT_STR(b, "a.b-0-1\\x2d2");
        ASSERT_INT(step_instance_format(".x:y_z", 12, "1-2", b, sizeof b), 0);
        ASSERT_STR(b, "\\x2ex:y_z-12-1\\x2d2");
        ASSERT_INT(step_instance_format("my-rule", 0, "1-2", b, sizeof b), 0);
        ASSERT_STR(b, "my\\x2drule-0-1\\x2d2");
        /* what is no rule name or run id */
        ASSERT_INT(step_instance_format("", 0, "1-2", b, sizeof b), -EINVAL);
        ASSERT_INT(step_instance_format("a/b", 0, "1-2", b, sizeof b), -EINVAL);
        ASSERT_INT(step_instance_format("a b", 0, "1-2", b, sizeof b), -EINVAL);
        ASSERT_INT(step_instance_format("a", 0, "12", b, sizeof b), -EINVAL);
        ASSERT_INT(step_instance_format("a", 0, "1-2-3", b, sizeof b), -EINVAL);
        ASSERT_INT(step_instance_format("a", 0, "../x", b, sizeof b), -EINVAL);
        ASSERT_INT(step_instance_format("a", 10000, "1-2", b, sizeof b), -EINVAL);
        /* 64 '-' escape to 256 bytes: longer than a unit name may be */
        ASSERT_INT(step_instance_format("----------------------------------------------------------------",
                                        0, "1-2", b, sizeof b),
                   -ENAMETOOLONG);
        ASSERT_INT(step_instance_format("drain", 1, "1765090000-3", b, 8), -ENAMETOOLONG);
}

static void test_instance_parse(void) {
        StepInstance i;
        const char *why;
        ASSERT_INT(step_instance_parse("drain-1-1765090000\\x2d3", &i, &why), 0);
        ASSERT_STR(i.rule, "drain");
        ASSERT_INT(i.step, 1);
        ASSERT_STR(i.run, "1765090000-3");
        ASSERT_TRUE(why == NULL);
        ASSERT_INT(step_instance_parse("my\\x2drule-0-1\\x2d2", &i, &why), 0);
        ASSERT_STR(i.rule, "my-rule");
        ASSERT_INT(step_instance_parse("\\x2ex:y_z-12-1\\x2d2", &i, &why), 0);
        ASSERT_STR(i.rule, ".x:y_z");
        ASSERT_INT(i.step, 12);

        static const char *const bad[] = {
                "",
                "drain",
                "drain-1",
                "drain-1-1765090000-3",      /* '-' is '/': four parts */
                "drain-1-1765090000\\x2d3-", /* a trailing '/' */
                "-drain-1-1\\x2d3",          /* an empty rule */
                "drain-01-1\\x2d3",          /* a leading zero */
                "drain--1\\x2d3",            /* no step */
                "drain-x-1\\x2d3",
                "drain-10000-1\\x2d3",
                "drain-1-1\\x2D3",           /* \xHH in lower case, as systemd-escape writes it */
                "drain-1-1\\x2d",            /* no digits after the dash */
                "drain-1-\\x2d3",            /* nor before */
                "drain-1-12",                /* no dash */
                "drain-1-1\\x2dx",           /* not digits */
                "dr\\x61in-1-1\\x2d3",       /* 'a' escaped: not canonical */
                ".drain-1-1\\x2d3",          /* a leading '.' unescaped */
                "dr ain-1-1\\x2d3",          /* a space */
                "dr=ain-1-1\\x2d3",          /* '=' */
                "--config-1-1\\x2d3",        /* empty parts */
                "-c-tmp-x",                  /* what getopt would read as an option */
                "dr\\x00ain-1-1\\x2d3",      /* a NUL */
                "dr\\x2fain-1-1\\x2d3",      /* an escaped '/': no rule name has one */
                "dr\\x0ain-1-1\\x2d3",       /* a newline */
                "drain-1-1\\x2d3\\x",        /* a cut escape */
                "drain-1-1\\x2d3\\x2",       /* a cut escape */
                "drain-1-../../etc/x\\x2d3", /* '/' in the run */
                "drain-1-11111111111111111111111\\x2d3",
        };
        for (size_t k = 0; k < ELEMENTSOF(bad); k++) {
                why = NULL;
                if (step_instance_parse(bad[k], &i, &why) != -EINVAL || !why)
                        TAP_FAIL("accepted '%s'", bad[k]);
        }
        char longest[400];
        memset(longest, 'a', sizeof longest - 1);
        longest[sizeof longest - 1] = '\0';
        ASSERT_INT(step_instance_parse(longest, &i, &why), -EINVAL);
}

static void test_instance_round_trip(void) {
        static const char *const rules[] = { "drain", "a", "A.b_c:d-e", "-", ".", "x..y", "0" };
        for (size_t k = 0; k < ELEMENTSOF(rules); k++) {
                char b[STEP_UNIT_MAX];
                StepInstance i;
                const char *why;
                ASSERT_INT(step_instance_format(rules[k], 7, "99-0", b, sizeof b), 0);
                ASSERT_INT(step_instance_parse(b, &i, &why), 0);
                ASSERT_STR(i.rule, rules[k]);
                ASSERT_INT(i.step, 7);
                ASSERT_STR(i.run, "99-0");
        }
}

static void test_env_name(void) {
        char b[64];
        ASSERT_INT(step_env_name("1765090000-3", 1, b, sizeof b), 0);
        ASSERT_STR(b, "1765090000-3-1.env");
        ASSERT_INT(step_env_name("1765090000-3", 1, b, 8), -ENAMETOOLONG);
}

static char **parse(const char *text, size_t len, int want) {
        char why[128], **env = NULL;
        int k = step_env_parse(text, len, &env, why);
        if (k != want)
                TAP_FAIL("step_env_parse(\"%.60s\") == %d (%s), expected %d", text, k, why, want);
        if (k < 0 && (!why[0] || strstr(why, "PATH") || strstr(why, "LD_")))
                TAP_FAIL("no reason, or the file's text in it: '%s'", why);
        return env;
}

static void test_env_parse(void) {
        static const char good[] = "EC2AGENT_EVENT=spot-interruption\nEC2AGENT_RULE=drain\n"
                                   "EC2AGENT_DEADLINE=\nEC2AGENT_DETAIL={\"a\":\"\xc3\xa9 x=y\"}\n";
        char **env = parse(good, strlen(good), 0);
        ASSERT_INT(strv_length(env), 4);
        ASSERT_STR(env[0], "EC2AGENT_EVENT=spot-interruption");
        ASSERT_STR(env[2], "EC2AGENT_DEADLINE=");
        ASSERT_STR(env[3], "EC2AGENT_DETAIL={\"a\":\"\xc3\xa9 x=y\"}");
        strv_free(env);
        ASSERT_TRUE(parse("", 0, 0) == NULL);

        static const char *const hostile[] = {
                "PATH=/tmp\n",
                "LD_PRELOAD=/tmp/x.so\n",
                "EC2AGENT_RULE=drain\nLD_PRELOAD=/tmp/x.so\n",
                "EC2AGENT_=x\n",
                "EC2AGENT_rule=x\n",
                "EC2AGENT_RULE-X=x\n",
                "EC2AGENT_RULE\n",
                " EC2AGENT_RULE=x\n",
                "ec2agent_RULE=x\n",
                "EC2AGENT_RULE=x",                    /* no final newline */
                "EC2AGENT_RULE=a\rb\n",               /* a control character */
                "EC2AGENT_RULE=a\tb\n",               /* a tab */
                "EC2AGENT_RULE=a\x7f\n",              /* DEL */
                "EC2AGENT_RULE=x\nEC2AGENT_RULE=y\n", /* twice */
                "\n",                                 /* an empty line */
                "EC2AGENT_RULE=x\n\n",
                "=x\n",
                "EC2AGENT_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=x\n", /* a name over
                                                                                                64 */
        };
        for (size_t k = 0; k < ELEMENTSOF(hostile); k++)
                parse(hostile[k], strlen(hostile[k]), -EINVAL);
        /* a NUL inside a value (the file's length says where it ends, not the NUL) */
        parse("EC2AGENT_RULE=a\0PATH=/tmp\n", 26, -EINVAL);

        /* more lines than allowed, and more bytes */
        Buf b;
        buf_init(&b, 4 * STEP_ENV_MAX);
        for (int k = 0; k <= STEP_ENV_LINES_MAX; k++)
                ASSERT_INT(buf_appendf(&b, "EC2AGENT_%c%c=x\n", 'A' + k / 26, 'A' + k % 26), 0);
        parse(b.data, b.len, -EFBIG);
        buf_reset(&b);
        ASSERT_INT(buf_appendf(&b, "EC2AGENT_DETAIL="), 0);
        while (b.len <= STEP_ENV_MAX)
                ASSERT_INT(buf_append(&b, "xxxxxxxxxxxxxxxx", 16), 0);
        ASSERT_INT(buf_append(&b, "\n", 1), 0);
        parse(b.data, b.len, -EFBIG);
        buf_done(&b);
}

TAP_MAIN({ "instance_format", test_instance_format }, { "instance_parse", test_instance_parse },
         { "instance_round_trip", test_instance_round_trip }, { "env_name", test_env_name },
         { "env_parse", test_env_parse })
