//! Named plans: ordered lists of stage instances. `custom` takes its list from
//! `prompt.stages.sequence`; the catalogue issues add the others.
