UPDATE service_providers SET
    grant_types = (SELECT coalesce(group_concat(value, ' '), '') FROM json_each(grant_types)),
    scopes = (SELECT coalesce(group_concat(value, ' '), '') FROM json_each(scopes)),
    audiences = (SELECT coalesce(group_concat(value, ' '), '') FROM json_each(audiences));
