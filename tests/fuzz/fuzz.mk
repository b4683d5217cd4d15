# tests/fuzz/fuzz.mk - builds the libFuzzer targets (GNU make; run by
# "make fuzz" from the build directory, which passes the variables below).
#
#   srcdir     the source tree (absolute)
#   FUZZ_CC    clang (libFuzzer is clang's)
#   FUZZ_CPPFLAGS, FUZZ_LIBS  collectd's include flags; curl, yajl, -lm
#
# Every libpdcore source (plugin/{core,read,notify}/*.c: all but the
# collectd glue pagerduty.c) and the unit tests' helpers the targets share
# (daemon stubs, configuration trees, chunked feeding) are compiled once with coverage
# instrumentation, AddressSanitizer and UBSan (any UB aborts); each target
# links them with libFuzzer into tests/fuzz/fuzz_<name>.

FUZZ_CC ?= clang
SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	-fno-omit-frame-pointer
# clang's -Wstring-concatenation flags "Accept: " PD_HTTP_ACCEPT in an
# array of header lines (pd_http.c), which is meant; gcc has no such warning.
FUZZ_CFLAGS := -g -O1 -std=gnu11 -Wall -Wextra -Werror \
	-Wno-string-concatenation -pthread $(SAN)
ROOMS := core read notify
CPPFLAGS_ALL := $(FUZZ_CPPFLAGS) $(ROOMS:%=-I$(srcdir)/plugin/%) \
	-I$(srcdir)/tests/unit \
	-I$(srcdir)/tests/fuzz -DPD_VERSION=\"fuzz\"
OUT := tests/fuzz
OBJ := $(OUT)/obj

CORE_SRC := $(wildcard $(ROOMS:%=$(srcdir)/plugin/%/*.c))
CORE_OBJ := $(patsubst $(srcdir)/%.c,$(OBJ)/%.o,$(CORE_SRC)) \
	$(OBJ)/tests/unit/daemon_stubs.o $(OBJ)/tests/unit/config_fixture.o \
	$(OBJ)/tests/unit/chunked_feed.o $(OBJ)/tests/fuzz/fuzz_common.o

# name:pd_parse_kind_t of every endpoint parser target
PARSE_TARGETS := parse_user:PD_PARSE_USER_ME parse_teams:PD_PARSE_TEAMS \
	parse_services:PD_PARSE_SERVICES parse_incidents:PD_PARSE_INCIDENTS \
	parse_schedules:PD_PARSE_SCHEDULES parse_schedule:PD_PARSE_SCHEDULE \
	parse_oncalls:PD_PARSE_ONCALLS parse_policies:PD_PARSE_POLICIES \
	parse_schedules_v3:PD_PARSE_SCHEDULES_V3 \
	parse_schedule_v3:PD_PARSE_SCHEDULE_V3 \
	parse_log_entries:PD_PARSE_LOG_ENTRIES \
	parse_maintenance_windows:PD_PARSE_MAINTENANCE_WINDOWS
OTHER_TARGETS := error spool_record state notification config token
TARGETS := $(foreach t,$(PARSE_TARGETS),$(firstword $(subst :, ,$(t)))) \
	$(OTHER_TARGETS)

all: $(TARGETS:%=$(OUT)/fuzz_%)
	@echo "fuzz targets: $(TARGETS)"

$(OBJ)/%.o: $(srcdir)/%.c $(wildcard $(ROOMS:%=$(srcdir)/plugin/%/*.h))
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS_ALL) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link \
	  -c $< -o $@

$(OBJ)/libcore.a: $(CORE_OBJ)
	rm -f $@ && ar rcs $@ $^

define parse_rule
$(OUT)/fuzz_$(1): $(srcdir)/tests/fuzz/fuzz_parse.c $(OBJ)/libcore.a
	$$(FUZZ_CC) $$(CPPFLAGS_ALL) $$(FUZZ_CFLAGS) -fsanitize=fuzzer \
	  -DFUZZ_KIND=$(2) $$< $(OBJ)/libcore.a $$(FUZZ_LIBS) -o $$@
endef
$(foreach t,$(PARSE_TARGETS),$(eval $(call parse_rule,$(word 1,$(subst :, ,$(t))),$(word 2,$(subst :, ,$(t))))))

$(OUT)/fuzz_%: $(srcdir)/tests/fuzz/fuzz_%.c $(OBJ)/libcore.a
	$(FUZZ_CC) $(CPPFLAGS_ALL) $(FUZZ_CFLAGS) -fsanitize=fuzzer \
	  $< $(OBJ)/libcore.a $(FUZZ_LIBS) -o $@

.PHONY: all
