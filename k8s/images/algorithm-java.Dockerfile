# syntax=docker/dockerfile:1
# Base image for Java algorithms: our wrapper (algorithms/wrappers/java, JDK 17 standard
# library only) compiled into /hkube/wrapper/hkube-wrapper.jar. A build adds the algorithm's
# jar as /hkube/algorithm-runner/algorithm.jar (or more jars in ALGORITHM_CLASSPATH).
# The heap follows HKube's runJava.sh: JAVA_MAX_MEM, else JAVA_DERIVED_MEMORY (the worker pod
# sets it to 80% of the memory limit), in MiB.
# Build from the repository root:
#   docker build -f k8s/images/algorithm-java.Dockerfile -t <registry>/hkube/algorithm-java:<tag> .
ARG JDK_IMAGE=eclipse-temurin:17-jdk-jammy
ARG JRE_IMAGE=eclipse-temurin:17-jre-jammy

FROM ${JDK_IMAGE} AS wrapper
COPY algorithms/wrappers/java/src /src
RUN mkdir /classes \
 && javac --release 17 -encoding UTF-8 -d /classes $(find /src -name '*.java') \
 && jar --create --file /hkube-wrapper.jar -C /classes .

FROM ${JRE_IMAGE}
ENV ALGORITHM_PATH=/hkube/algorithm-runner \
    ALGORITHM_CLASSPATH=/hkube/algorithm-runner/algorithm.jar \
    JAVA_MIN_MEM=256M
RUN groupadd --gid 1000 hkube \
 && useradd --uid 1000 --gid 1000 --home-dir /hkube --shell /usr/sbin/nologin hkube \
 && mkdir -p /hkube/wrapper /hkube/algorithm-runner /hkube-logs \
 && chown -R 1000:1000 /hkube/algorithm-runner /hkube-logs
COPY --from=wrapper /hkube-wrapper.jar /hkube/wrapper/hkube-wrapper.jar

USER 1000:1000
WORKDIR /hkube/algorithm-runner
CMD ["sh", "-c", "exec java -Xms${JAVA_MIN_MEM} -Xmx${JAVA_MAX_MEM:-${JAVA_DERIVED_MEMORY:-512}M} -cp /hkube/wrapper/hkube-wrapper.jar:${ALGORITHM_CLASSPATH} hkube.algo.wrapper.Main"]
