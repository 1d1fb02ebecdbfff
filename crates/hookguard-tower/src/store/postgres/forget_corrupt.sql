-- $1 key, $2 the response that did not decode: deletes the row iff it still holds exactly that.
DELETE FROM {schema}.records WHERE key = $1 AND state = 2 AND response = $2
