-- One database per chargepark service; each service owns its schema and migrates it itself.
-- The postgres image runs this file once, when it initialises an empty data directory.
-- Safe to run again by hand (psql -f init.sql): an existing database is left alone.
SELECT format('CREATE DATABASE %I', name)
FROM unnest(ARRAY[
    'chargepark_accounts',
    'chargepark_csms',
    'chargepark_parking',
    'chargepark_billing',
    'chargepark_ops'
]) AS name
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = name)
\gexec
