UPDATE service_providers SET
    grant_types = (
        SELECT coalesce(string_agg(value, ' ' ORDER BY n), '')
        FROM json_array_elements_text(grant_types::json) WITH ORDINALITY AS t(value, n)
    ),
    scopes = (
        SELECT coalesce(string_agg(value, ' ' ORDER BY n), '')
        FROM json_array_elements_text(scopes::json) WITH ORDINALITY AS t(value, n)
    ),
    audiences = (
        SELECT coalesce(string_agg(value, ' ' ORDER BY n), '')
        FROM json_array_elements_text(audiences::json) WITH ORDINALITY AS t(value, n)
    );
