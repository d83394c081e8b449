DROP TABLE jwt_replay_cache;
