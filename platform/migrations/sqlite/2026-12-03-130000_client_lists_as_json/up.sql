-- A client's grant types, scopes and audiences were stored space separated; every stored list is
-- now a JSON array of strings, like its certificates and the identity providers' lists, so one
-- encoding serves the store and refuses what it cannot read. Any run of whitespace separated two
-- values, as the reading code split them.
UPDATE service_providers SET
    grant_types = (
        WITH RECURSIVE split(word, rest) AS (
            SELECT NULL, replace(replace(replace(grant_types, char(9), ' '), char(10), ' '), char(13), ' ') || ' '
            UNION ALL
            SELECT substr(rest, 1, instr(rest, ' ') - 1), substr(rest, instr(rest, ' ') + 1)
            FROM split WHERE rest <> ''
        )
        SELECT json_group_array(word) FROM split WHERE word <> ''
    ),
    scopes = (
        WITH RECURSIVE split(word, rest) AS (
            SELECT NULL, replace(replace(replace(scopes, char(9), ' '), char(10), ' '), char(13), ' ') || ' '
            UNION ALL
            SELECT substr(rest, 1, instr(rest, ' ') - 1), substr(rest, instr(rest, ' ') + 1)
            FROM split WHERE rest <> ''
        )
        SELECT json_group_array(word) FROM split WHERE word <> ''
    ),
    audiences = (
        WITH RECURSIVE split(word, rest) AS (
            SELECT NULL, replace(replace(replace(audiences, char(9), ' '), char(10), ' '), char(13), ' ') || ' '
            UNION ALL
            SELECT substr(rest, 1, instr(rest, ' ') - 1), substr(rest, instr(rest, ' ') + 1)
            FROM split WHERE rest <> ''
        )
        SELECT json_group_array(word) FROM split WHERE word <> ''
    );
