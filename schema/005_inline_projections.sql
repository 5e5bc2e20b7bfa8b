-- Read models written in the appends' own transactions. A projection whose `inline` is true (at
-- its code's version) is kept by every append; `position` then only records where its last build
-- or attach left it. A projection whose `inline` is false is being built (or was left behind by a
-- release whose workers followed the log) and reflects the log up to `position`. The flag changes
-- only while appends are held back (an advisory lock every append takes in shared mode).
ALTER TABLE projections ADD COLUMN inline boolean NOT NULL DEFAULT false;
