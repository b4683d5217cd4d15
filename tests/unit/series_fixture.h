/* SPDX-License-Identifier: MIT */
/*
 * series_fixture.h - the unit tests' view of the table of series
 * (plugin/read/pd_series.def): which series a type instance is, and how
 * many values an entity or a group has, so that tests count series by the
 * table instead of by lists or prefixes of their own.
 *
 *   series_of("service-web-created", NULL) == PD_SERIES_SERVICE_CREATED
 *   series_values(PD_SERIES_INCIDENTS) == 4     (status x urgency)
 *   series_per(PD_ENTITY_POLICY) == 4           (api-* never counted)
 */
#ifndef SERIES_FIXTURE_H
#define SERIES_FIXTURE_H

#include <stddef.h>

#include "pd_series.h"

/* The series whose name type_instance is, or PD_SERIES_NUM when none is;
 * instance (PD_TYPE_INSTANCE_MAX bytes, may be NULL) gets the entity's
 * instance name ("" for account series). */
pd_series_id_t series_of(const char *type_instance, char *instance);

/* Values of one series for one entity: the product of its dimensions. */
size_t series_values(pd_series_id_t id);
/* Values one entity of this kind has when every group is on, api-* aside. */
size_t series_per(pd_series_entity_t entity);
/* Values of one group for one entity of its kind. */
size_t series_in_group(pd_series_group_t group);
/* Values the Collect keywords give for one entity of each kind. */
size_t series_of_collect(unsigned collect);

#endif /* SERIES_FIXTURE_H */
