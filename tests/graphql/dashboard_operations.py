"""The operations HKube's dashboard (kube-HPC/simulator v2.11.63) sends, one per root field:
the argument types it declares and the union of the fields it selects (Apollo adds
`__typename` to every selection set). Facts about the client, written out as queries."""

from __future__ import annotations

OPERATIONS: dict[str, str] = {
    "DataSourcePreviewQuery": (
        "query Dashboard_DataSourcePreviewQuery($id: String, $query: String!) { "
        "DataSourcePreviewQuery(id: $id, query: $query) { __typename path id name size type meta "
        "uploadedAt } }"
    ),
    "DataSourceSnapanshots": (
        "query Dashboard_DataSourceSnapanshots($name: String!) { DataSourceSnapanshots(name: $name) "
        "{ __typename query name id droppedFiles { __typename path id name size type meta "
        "uploadedAt } filteredFilesList { __typename path id name size type meta uploadedAt } "
        "dataSource { __typename id name } } }"
    ),
    "DataSourceVersions": (
        "query Dashboard_DataSourceVersions($name: String!) { DataSourceVersions(name: $name) { "
        "__typename versionDescription commitHash id } }"
    ),
    "dataSource": (
        "query Dashboard_dataSource($id: String!, $name: String!) { dataSource(id: $id, name: "
        "$name) { __typename name versionDescription commitHash isPartial id path files { "
        "__typename path id name size type meta uploadedAt link } storage { __typename kind } git { "
        "__typename kind repositoryUrl } } }"
    ),
    "dataSources": (
        "query Dashboard_dataSources { dataSources { __typename list { __typename "
        "versionDescription name filesCount avgFileSize totalSize id fileTypes } dataSourcesCount } "
        "}"
    ),
    "discovery": (
        "query Dashboard_discovery { discovery { __typename pipelineDriver { __typename driverId "
        "podName idle paused status max capacity jobs { __typename jobId active pipelineName } "
        "driverStatus jobStatus } taskExecutor { __typename actual { __typename total stats { "
        "__typename algorithmName count status exit init ready working hot results } } nodes { "
        "__typename workers { __typename total stats } name workers2 labels { __typename "
        "failuredomainbetakubernetesiozone betakubernetesioos betakubernetesioinstancetype "
        "betaubernetesioarch kopsk8sioinstancegroup kubernetesiohostname kubernetesiorole "
        "noderolekubernetesionode nodekubernetesioinstancetype } other { __typename cpu gpu mem } "
        "requests { __typename gpu cpu mem } } resourcePressure { __typename cpu gpu mem } } worker "
        "{ __typename workerStatus isMaster workerStartingTime jobCurrentTime workerPaused "
        "hotWorker error workerId algorithmName podName streamingDiscovery { __typename host port } "
        "jobId } host port } }"
    ),
    "job": (
        "query Dashboard_job($id: String!) { job(id: $id) { __typename key results { __typename "
        "startTime pipeline status timestamp timeTook data { __typename progress details states { "
        "__typename succeed failed stopped active creating preschedule pending skipped stalled "
        "warning } storageInfo { __typename path size } } name algorithmsData { __typename name "
        "amount size } } status { __typename timestamp status level pipeline data { __typename "
        "details states { __typename succeed } progress } } pipeline { __typename name "
        "experimentName kind priority startTime tags types lastRunResult { __typename timestamp "
        "status timeTook } flowInputMetadata { __typename storageInfo { __typename path size } "
        "metadata { __typename values } } triggers { __typename cron { __typename enabled pattern } "
        "} options { __typename debug pending batchTolerance progressVerbosityLevel ttl "
        "concurrentPipelines { __typename amount rejectOnFailure } } flowInput nodes { __typename "
        "nodeName algorithmName taskId podName status startTime endTime level stateType batch { "
        "__typename podName taskId status batchIndex startTime endTime } boards output { __typename "
        "taskId discovery { __typename host port } metadata { __typename values } storageInfo { "
        "__typename path size } } input { __typename path } kind } version } userPipeline { "
        "__typename name experimentName triggers { __typename cron { __typename enabled pattern } } "
        "options { __typename debug pending batchTolerance progressVerbosityLevel ttl "
        "concurrentPipelines { __typename amount rejectOnFailure } } flowInput nodes { __typename "
        "nodeName algorithmName input { __typename path } kind taskId podName status startTime "
        "endTime level batch { __typename podName taskId status batchIndex startTime endTime } "
        "boards output { __typename taskId discovery { __typename host port } metadata { __typename "
        "values } storageInfo { __typename path size } } } } cursor timeTook graph { __typename "
        "jobId timestamp nodes { __typename nodeName algorithmName algorithmVersion taskId podName "
        "status startTime endTime level error warnings retries downloadFileExt devMode batch { "
        "__typename podName taskId status batchIndex startTime endTime output { __typename "
        "storageInfo { __typename path } } } batchInfo { __typename idle completed errors running "
        "total } boards output { __typename taskId discovery { __typename host port } metadata { "
        "__typename values } storageInfo { __typename path size } } input { __typename path value } "
        "} edges { __typename from to value { __typename types metrics } } } } }"
    ),
    "jobsAggregated": (
        "query Dashboard_jobsAggregated($experimentName: String, $pipelineName: String, "
        "$algorithmName: String, $pipelineStatus: String, $user: String, $tags: [String], "
        "$datesRange: Range, $cursor: String, $limit: Int) { jobsAggregated(experimentName: "
        "$experimentName, pipelineName: $pipelineName, algorithmName: $algorithmName, "
        "pipelineStatus: $pipelineStatus, user: $user, tags: $tags, datesRange: $datesRange, "
        "cursor: $cursor, limit: $limit) { __typename jobs { __typename key auditTrail { __typename "
        "action user timestamp } externalId status { __typename pipeline level status data { "
        "__typename progress details states { __typename succeed failed stopped active creating "
        "preschedule pending skipped stalled warning failedScheduling } } timestamp } cursor "
        "timeTook results { __typename startTime pipeline status timestamp timeTook data { "
        "__typename progress details states { __typename succeed failed stopped active creating "
        "preschedule pending skipped stalled warning } storageInfo { __typename path size } } name "
        "algorithmsData { __typename name amount size } } pipeline { __typename name experimentName "
        "kind priority startTime tags types nodes { __typename algorithmName } activeTime "
        "queueTimeSeconds lastRunResult { __typename timestamp status timeTook } flowInputMetadata "
        "{ __typename storageInfo { __typename path size } metadata { __typename values } } "
        "triggers { __typename cron { __typename enabled pattern } } options { __typename debug "
        "pending batchTolerance progressVerbosityLevel ttl concurrentPipelines { __typename amount "
        "rejectOnFailure } } flowInput } graph { __typename jobId timestamp nodes { __typename "
        "nodeName algorithmName taskId podName status startTime endTime level batch { __typename "
        "taskId podName status batchIndex startTime endTime } boards output { __typename taskId } "
        "input { __typename path } } edges { __typename from to value { __typename types } } } "
        "userPipeline { __typename name experimentName } } cursor jobsCount } }"
    ),
    "aggregatedPipelineManaged": (
        "query Dashboard_aggregatedPipelineManaged { aggregatedPipelineManaged { __typename name count } }"
    ),
    "managedList": (
        "query Dashboard_managedList($pageSize: Int!, $firstJobId: String, $lastJobId: String, "
        "$pipelineName: String, $tag: String, $lastJobs: Boolean) { managedList(pageSize: "
        "$pageSize, firstJobId: $firstJobId, lastJobId: $lastJobId, pipelineName: $pipelineName, "
        "tag: $tag, lastJobs: $lastJobs) { __typename nextCount prevCount returnList { __typename "
        "jobId experimentName pipelineName priority maxExceeded entranceTime tags } } }"
    ),
    "aggregatedTagsManaged": (
        "query Dashboard_aggregatedTagsManaged { aggregatedTagsManaged { __typename name count } }"
    ),
    "aggregatedPipelinePrefered": (
        "query Dashboard_aggregatedPipelinePrefered { aggregatedPipelinePrefered { __typename name "
        "count lastJob } }"
    ),
    "preferedList": (
        "query Dashboard_preferedList($pageSize: Int!, $firstJobId: String, $lastJobId: String, "
        "$pipelineName: String, $tag: String, $lastJobs: Boolean) { preferedList(pageSize: "
        "$pageSize, firstJobId: $firstJobId, lastJobId: $lastJobId, pipelineName: $pipelineName, "
        "tag: $tag, lastJobs: $lastJobs) { __typename nextCount prevCount returnList { __typename "
        "jobId experimentName pipelineName priority maxExceeded entranceTime tags } } }"
    ),
    "aggregatedTagsPrefered": (
        "query Dashboard_aggregatedTagsPrefered { aggregatedTagsPrefered { __typename name count lastJob } }"
    ),
    "algorithmBuilds": (
        "query Dashboard_algorithmBuilds($algorithmName: String) { algorithmBuilds(algorithmName: "
        "$algorithmName) { __typename buildId imageTag env algorithmName type status progress error "
        "trace endTime startTime timestamp algorithmImage buildMode result { __typename data "
        "warnings errors } gitRepository { __typename gitKind url branchName webUrl cloneUrl commit "
        "{ __typename id timestamp message } } algorithm { __typename name cpu gpu mem "
        "reservedMemory minHotWorkers env entryPoint type options { __typename debug pending "
        "batchTolerance progressVerbosityLevel ttl concurrentPipelines { __typename amount "
        "rejectOnFailure } } } } }"
    ),
    "algorithmsByName": (
        "query Dashboard_algorithmsByName($name: String!) { algorithmsByName(name: $name) }"
    ),
    "algorithmsByVersion": (
        "query Dashboard_algorithmsByVersion($name: String!, $version: String!) { "
        "algorithmsByVersion(name: $name, version: $version) }"
    ),
    "algorithms": (
        "query Dashboard_algorithms { algorithms { __typename list { __typename name cpu created "
        "entryPoint env gpu mem unscheduledReason minHotWorkers modified reservedMemory type "
        "algorithmImage version debugUrl errors auditTrail { __typename timestamp user version } "
        "options { __typename debug pending batchTolerance devMode devFolder progressVerbosityLevel "
        "ttl concurrentPipelines { __typename amount rejectOnFailure } } gitRepository { __typename "
        "gitKind url branchName webUrl cloneUrl commit { __typename id timestamp message } } "
        "buildStats { __typename total pending creating active completed failed stopped } } "
        "algorithmsCount } }"
    ),
    "pipelines": ("query Dashboard_pipelines { pipelines { __typename list pipelinesCount } }"),
    "queueCount": ("query Dashboard_queueCount { queueCount { __typename managed preferred } }"),
    "diskSpace": ("query Dashboard_diskSpace { diskSpace { __typename size free } }"),
    "errorLogs": (
        "query Dashboard_errorLogs { errorLogs { __typename type hostName uptime timestamp "
        "serviceName podName id level message } }"
    ),
    "experiments": ("query Dashboard_experiments { experiments { __typename name description created } }"),
    "healthMonitoring": (
        "query Dashboard_healthMonitoring { healthMonitoring { __typename overallHealthStatus "
        "services { __typename serviceName status } } }"
    ),
    "logsByQuery": (
        "query Dashboard_logsByQuery($podName: String!, $taskId: String!, $source: String, "
        "$nodeKind: String, $logMode: String, $searchWord: String, $limit: Int, $containerNames: "
        "[String]) { logsByQuery(podName: $podName, taskId: $taskId, source: $source, nodeKind: "
        "$nodeKind, logMode: $logMode, searchWord: $searchWord, limit: $limit, containerNames: "
        "$containerNames) { __typename logs { __typename level timestamp message } podStatus } }"
    ),
    "nodeStatistics": (
        "query Dashboard_nodeStatistics { nodeStatistics { __typename metric legend results { "
        "__typename startTime pipeline status timestamp timeTook data { __typename progress details "
        "states { __typename succeed failed stopped active creating preschedule pending skipped "
        "stalled warning } } name algorithmsData { __typename name amount size } } } }"
    ),
    "pipelineStats": (
        "query Dashboard_pipelineStats { pipelineStats { __typename name stats { __typename status "
        "count } } }"
    ),
}
