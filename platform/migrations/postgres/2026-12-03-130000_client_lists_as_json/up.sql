-- A client's grant types, scopes and audiences were stored space separated; every stored list is
-- now a JSON array of strings, like its certificates and the identity providers' lists, so one
-- encoding serves the store and refuses what it cannot read. Any run of whitespace separated two
-- values, as the reading code split them.
UPDATE service_providers SET
    grant_types = (
        SELECT coalesce(json_agg(word ORDER BY n), '[]')::text
        FROM unnest(regexp_split_to_array(grant_types, '\s+')) WITH ORDINALITY AS t(word, n)
        WHERE word <> ''
    ),
    scopes = (
        SELECT coalesce(json_agg(word ORDER BY n), '[]')::text
        FROM unnest(regexp_split_to_array(scopes, '\s+')) WITH ORDINALITY AS t(word, n)
        WHERE word <> ''
    ),
    audiences = (
        SELECT coalesce(json_agg(word ORDER BY n), '[]')::text
        FROM unnest(regexp_split_to_array(audiences, '\s+')) WITH ORDINALITY AS t(word, n)
        WHERE word <> ''
    );
