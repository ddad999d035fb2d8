package jmespath

import (
	"strconv"
	"time"
)

const rfc3339 = time.RFC3339

func timeArg(x []any, i int) (time.Time, error) {
	return time.Parse(rfc3339, x[i].(string))
}

// jpTimeSince is time_since(layout, start, end): end - start as a Go
// duration string; layout "" means RFC 3339 and end "" means now.
func jpTimeSince(e *evaluator, x []any) (any, error) {
	layout, start, end := x[0].(string), x[1].(string), x[2].(string)
	if layout == "" {
		layout = rfc3339
	}
	t1, err := time.Parse(layout, start)
	if err != nil {
		return nil, err
	}
	t2 := e.in.cfg.clock()
	if end != "" {
		if t2, err = time.Parse(layout, end); err != nil {
			return nil, err
		}
	}
	return t2.Sub(t1).String(), nil
}

// jpTimeToCron is time_to_cron(time): "minute hour day month weekday".
func jpTimeToCron(_ *evaluator, x []any) (any, error) {
	t, err := timeArg(x, 0)
	if err != nil {
		return nil, err
	}
	return strconv.Itoa(t.Minute()) + " " + strconv.Itoa(t.Hour()) + " " + strconv.Itoa(t.Day()) + " " +
		strconv.Itoa(int(t.Month())) + " " + strconv.Itoa(int(t.Weekday())), nil
}

func jpTimeAdd(_ *evaluator, x []any) (any, error) {
	t, err := timeArg(x, 0)
	if err != nil {
		return nil, err
	}
	d, err := time.ParseDuration(x[1].(string))
	if err != nil {
		return nil, err
	}
	return t.Add(d).Format(rfc3339), nil
}

// jpTimeParse is time_parse(layout, value). A layout that is an integer
// means value is seconds since the Unix epoch.
func jpTimeParse(_ *evaluator, x []any) (any, error) {
	layout, value := x[0].(string), x[1].(string)
	if _, err := strconv.ParseInt(layout, 10, 64); err == nil {
		epoch, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return nil, err
		}
		return time.Unix(epoch, 0).UTC().Format(rfc3339), nil
	}
	t, err := time.Parse(layout, value)
	if err != nil {
		return nil, err
	}
	return t.Format(rfc3339), nil
}

func jpTimeUtc(_ *evaluator, x []any) (any, error) {
	t, err := timeArg(x, 0)
	if err != nil {
		return nil, err
	}
	return t.UTC().Format(rfc3339), nil
}

func twoTimes(x []any) (time.Time, time.Time, error) {
	t1, err := timeArg(x, 0)
	if err != nil {
		return t1, t1, err
	}
	t2, err := timeArg(x, 1)
	return t1, t2, err
}

func jpTimeDiff(_ *evaluator, x []any) (any, error) {
	t1, t2, err := twoTimes(x)
	if err != nil {
		return nil, err
	}
	return t2.Sub(t1).String(), nil
}

func jpTimeBefore(_ *evaluator, x []any) (any, error) {
	t1, t2, err := twoTimes(x)
	if err != nil {
		return nil, err
	}
	return t1.Before(t2), nil
}

func jpTimeAfter(_ *evaluator, x []any) (any, error) {
	t1, t2, err := twoTimes(x)
	if err != nil {
		return nil, err
	}
	return t1.After(t2), nil
}

func jpTimeBetween(_ *evaluator, x []any) (any, error) {
	t, err := timeArg(x, 0)
	if err != nil {
		return nil, err
	}
	start, err := timeArg(x, 1)
	if err != nil {
		return nil, err
	}
	end, err := timeArg(x, 2)
	if err != nil {
		return nil, err
	}
	return t.After(start) && t.Before(end), nil
}

func jpTimeTruncate(_ *evaluator, x []any) (any, error) {
	t, err := timeArg(x, 0)
	if err != nil {
		return nil, err
	}
	d, err := time.ParseDuration(x[1].(string))
	if err != nil {
		return nil, err
	}
	return t.Truncate(d).Format(rfc3339), nil
}
