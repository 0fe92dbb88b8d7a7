// Each fault test runs a whole cluster on a 2-core machine: never two at once.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
