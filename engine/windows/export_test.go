package windows

// PerPane returns cfg keeping sliding windows' panes one value each (the
// layout of windows of many panes), so that tests cover both layouts.
func PerPane(cfg Config) Config {
	cfg.perPane = true
	return cfg
}
