-- erase_listed.lua: take an erased person's jobs out of an RQ queue (transactional, webhooks)
-- and delete them, atomically with the workers' dequeue (LMOVE/LPOP of the same list).
--
-- A job no longer in the list was taken by a worker meanwhile: it is left alone here (its id
-- is already in the erased-jobs set, so a send is refused at its claim; producer/erase.py
-- waits for it to end and then deletes it).
--
-- KEYS[1]     the queue's list (rq:queue:<name>)
-- KEYS[2..]   the jobs' hash keys (rq:job:<id>)
-- ARGV[1..]   the job ids, one per KEYS[2..]
-- Returns     one flag per job: 1 removed and deleted, 0 no longer in the list (taken)
local removed = {}
for i = 2, #KEYS do
  if redis.call('LREM', KEYS[1], 1, ARGV[i - 1]) == 1 then
    redis.call('DEL', KEYS[i])
    removed[i - 1] = 1
  else
    removed[i - 1] = 0
  end
end
return removed
