// A standalone build of the Pigeonhole Android library (AAR). An app can
// also include this directory as a module: include(":pigeonhole") with
// project(":pigeonhole").projectDir = file("path/to/android").
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "pigeonhole"
