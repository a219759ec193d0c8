/* Shared by the unit tests: a case fails if it leaves an allocation made
 * through common/mem.h behind. */
#ifndef SCRIM_TEST_LEAK_H
#define SCRIM_TEST_LEAK_H

#include "common/mem.h"

static inline int leak_setup(void **state)
{
    *state = (void *)(size_t)mem_live();
    return 0;
}

static inline int leak_teardown(void **state)
{
    assert_int_equal(mem_live(), (long)(size_t)*state);
    return 0;
}

#define LEAK_TEST(f) cmocka_unit_test_setup_teardown(f, leak_setup, leak_teardown)

#endif
